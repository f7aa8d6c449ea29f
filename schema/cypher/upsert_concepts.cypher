// name: upsert_concepts
// purpose: Create or update L1 Concept nodes by deterministic id, keeping aliases already recorded; colliding ids are skipped.
// param rows: list - maps {id, props}
// columns: written
// mode: write
UNWIND $rows AS row
OPTIONAL MATCH (x:Concept {id: row.id})
WITH row, x WHERE x IS NULL OR x.fp = row.props.fp
MERGE (c:Concept {id: row.id})
// aliases accumulate (entity-resolution merges add some): never let a re-extraction wipe them
WITH c, row, coalesce(c.aliases, []) AS old
SET c += row.props
SET c.aliases = old + [a IN coalesce(row.props.aliases, []) WHERE NOT a IN old]
RETURN count(c) AS written
