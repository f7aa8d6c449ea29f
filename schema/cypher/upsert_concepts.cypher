// name: upsert_concepts
// purpose: Create or update L1 Concept nodes by deterministic id; colliding ids are skipped.
// param rows: list - maps {id, props}
// columns: written
// mode: write
UNWIND $rows AS row
OPTIONAL MATCH (x:Concept {id: row.id})
WITH row, x WHERE x IS NULL OR x.fp = row.props.fp
MERGE (c:Concept {id: row.id})
SET c += row.props
RETURN count(c) AS written
