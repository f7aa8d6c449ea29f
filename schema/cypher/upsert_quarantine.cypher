// name: upsert_quarantine
// purpose: Store quarantined extraction output (a step or a whole chunk answer that failed validation) with its reason, linked to its chunk.
// param rows: list - maps {id, chunk_id, props}
// columns: written
// mode: write
UNWIND $rows AS row
MERGE (q:Quarantine {id: row.id})
SET q += row.props, q.chunk_id = row.chunk_id
WITH q, row
OPTIONAL MATCH (k:Chunk {id: row.chunk_id})
FOREACH (_ IN CASE WHEN k IS NULL THEN [] ELSE [1] END | MERGE (q)-[:FROM_CHUNK]->(k))
RETURN count(q) AS written
