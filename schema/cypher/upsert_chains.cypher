// name: upsert_chains
// purpose: Create or update L3 Chain nodes; colliding ids are skipped. Steps are linked by link_chain_steps.
// param rows: list - maps {id, chunk_id, props}
// columns: written
// mode: write
UNWIND $rows AS row
OPTIONAL MATCH (x:Chain {id: row.id})
WITH row, x WHERE x IS NULL OR x.fp = row.props.fp
MERGE (ch:Chain {id: row.id})
SET ch += row.props
WITH ch, row
OPTIONAL MATCH (k:Chunk {id: row.chunk_id})
FOREACH (_ IN CASE WHEN k IS NULL THEN [] ELSE [1] END | MERGE (ch)-[:FROM_CHUNK]->(k))
RETURN count(ch) AS written
