// name: chunks_to_extract
// purpose: Chunks not yet extracted with this extractor key (extractor/prompt version), oldest documents first; the extraction queue of one discipline shard.
// param key: string - extractor key, e.g. 'heuristic/heuristic-v1'
// param discipline: string? - one discipline (null: all)
// param limit: int = 1000000 - most chunks returned
// columns: chunk_id, discipline, text, section, title, document_id
// mode: read
MATCH (d:Document)-[:HAS_CHUNK]->(k:Chunk)
WHERE ($discipline IS NULL OR k.discipline = $discipline)
  AND (k.extracted_with IS NULL OR k.extracted_with <> $key)
RETURN k.id AS chunk_id, k.discipline AS discipline, k.text AS text, k.section AS section,
       d.title AS title, d.id AS document_id
ORDER BY document_id, k.ordinal
LIMIT $limit
