// name: extraction_queue
// purpose: Per discipline, how many chunks exist and how many still wait for extraction with this extractor key.
// param key: string - extractor key, e.g. 'heuristic/heuristic-v1'
// param discipline: string? - one discipline (null: all)
// columns: discipline, chunks, pending, documents
// mode: read
MATCH (d:Document)-[:HAS_CHUNK]->(k:Chunk)
WHERE $discipline IS NULL OR k.discipline = $discipline
RETURN k.discipline AS discipline, count(k) AS chunks,
       count(CASE WHEN k.extracted_with IS NULL OR k.extracted_with <> $key THEN 1 END) AS pending,
       count(DISTINCT d) AS documents
ORDER BY discipline
