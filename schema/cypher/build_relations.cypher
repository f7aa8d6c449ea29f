// name: build_relations
// purpose: The Builder's input: L2 relations of a discipline with their concepts' names and the chunk text they were extracted from, paged by relation id (stale and merged-away concepts excluded).
// param discipline: string - the discipline
// param after: string - return relations whose id sorts after this ('' for the first page)
// param limit: int - page size
// columns: id, type, subject_id, subject, object_id, object, evidence, chunk_id, chunk_text, title
// mode: read
MATCH (a:Concept {discipline: $discipline})-[r:RELATION]->(b:Concept)
WHERE r.id > $after AND r.stale IS NULL AND a.stale IS NULL AND b.stale IS NULL
  AND a.merged_into IS NULL AND b.merged_into IS NULL
WITH a, r, b ORDER BY r.id LIMIT $limit
OPTIONAL MATCH (k:Chunk {id: r.chunk_id})<-[:HAS_CHUNK]-(d:Document)
RETURN r.id AS id, r.type AS type, a.id AS subject_id, a.name AS subject, b.id AS object_id, b.name AS object,
       r.evidence AS evidence, r.chunk_id AS chunk_id, k.text AS chunk_text, d.title AS title
