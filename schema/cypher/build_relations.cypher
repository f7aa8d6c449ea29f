// name: build_relations
// purpose: The Builder's input: L2 relations of a discipline with their concepts' names and the chunk text they were extracted from (stale and merged-away concepts excluded), paged by subject concept: every concept of the page yields its relations, or one row with a null id when it has none, so `cursor` always advances.
// param discipline: string - the discipline
// param after: string - return relations whose subject concept's id sorts after this ('' for the first page)
// param limit: int - page size, in subject concepts (all relations of a concept come in one page)
// columns: cursor, id, type, subject_id, subject, object_id, object, evidence, chunk_id, chunk_text, title
// mode: read
// Paged by subject, not by relation id: with `r.id > $after ... ORDER BY r.id` FalkorDB's planner
// scans the RELATION id index once per concept of the discipline, and the first page of an
// 18,000-relation discipline did not finish in 120 s (benchmarks/stage_reads.py).
MATCH (a:Concept {discipline: $discipline})
WHERE a.id > $after
WITH a ORDER BY a.id LIMIT $limit
OPTIONAL MATCH (a)-[r:RELATION]->(b:Concept)
WHERE r.stale IS NULL AND a.stale IS NULL AND b.stale IS NULL AND a.merged_into IS NULL AND b.merged_into IS NULL
WITH a, r, b
OPTIONAL MATCH (k:Chunk {id: r.chunk_id})<-[:HAS_CHUNK]-(d:Document)
RETURN a.id AS cursor, r.id AS id, r.type AS type, a.id AS subject_id, a.name AS subject, b.id AS object_id,
       b.name AS object, r.evidence AS evidence, r.chunk_id AS chunk_id, k.text AS chunk_text, d.title AS title
ORDER BY cursor, id
