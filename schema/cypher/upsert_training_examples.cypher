// name: upsert_training_examples
// purpose: Write Builder examples as (:TrainingExample) nodes (MERGE by id, so rebuilding is a no-op) linked to what they teach: TEACHES the relation's two concepts, FROM_CHUNK the chunk that grounds them. Builder examples come from L1/L2 only and so never link FROM_CHAIN (see bench_orthogonality).
// param rows: list - maps {id, subject_id, object_id, chunk_id, props}
// columns: written
// mode: write
UNWIND $rows AS row
MERGE (x:TrainingExample {id: row.id})
SET x += row.props
WITH x, row
OPTIONAL MATCH (s:Concept {id: row.subject_id})
OPTIONAL MATCH (o:Concept {id: row.object_id})
OPTIONAL MATCH (k:Chunk {id: row.chunk_id})
FOREACH (_ IN CASE WHEN s IS NULL THEN [] ELSE [1] END | MERGE (x)-[:TEACHES]->(s))
FOREACH (_ IN CASE WHEN o IS NULL THEN [] ELSE [1] END | MERGE (x)-[:TEACHES]->(o))
FOREACH (_ IN CASE WHEN k IS NULL THEN [] ELSE [1] END | MERGE (x)-[:FROM_CHUNK]->(k))
RETURN count(x) AS written
