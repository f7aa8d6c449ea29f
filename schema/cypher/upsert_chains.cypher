// name: upsert_chains
// purpose: Create or update L3 Chain nodes; colliding ids are skipped. Steps are linked by link_chain_steps, chunks by link_chain_chunks.
// param rows: list - maps {id, props}
// columns: written
// mode: write
UNWIND $rows AS row
OPTIONAL MATCH (x:Chain {id: row.id})
WITH row, x WHERE x IS NULL OR x.fp = row.props.fp
MERGE (ch:Chain {id: row.id})
SET ch += row.props
RETURN count(ch) AS written
