// name: studio_documents
// purpose: One page of documents (optionally one discipline) in id order, with their chunk count and how many of those chunks were extracted (with $key, or with any extractor when $key is null): the Studio's corpus table.
// param discipline: string? - one discipline (null: all)
// param key: string? - the extractor key that counts as extracted (null: any)
// param skip: int = 0 - rows skipped first
// param limit: int = 50 - page size
// columns: id, source_id, discipline, title, license, chunks, extracted
// mode: read
MATCH (d:Document)
WHERE $discipline IS NULL OR d.discipline = $discipline
WITH d ORDER BY d.id SKIP $skip LIMIT $limit
OPTIONAL MATCH (d)-[:HAS_CHUNK]->(k:Chunk)
RETURN d.id AS id, d.source_id AS source_id, d.discipline AS discipline, d.title AS title, d.license AS license,
       count(k) AS chunks,
       count(CASE WHEN k.extracted_with IS NOT NULL AND ($key IS NULL OR k.extracted_with = $key) THEN 1 END)
         AS extracted
ORDER BY id
