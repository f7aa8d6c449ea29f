// name: apply_merges
// purpose: Merge duplicate concepts into canonical ones, non-destructively: (d)-[:SAME_AS]->(c), d.merged_into, c.aliases += the new aliases, and an audit (:Merge)-[:MERGED]->(d), (:Merge)-[:INTO]->(c). Rows whose concepts are missing, already merged or in different disciplines are skipped. At most one row per canonical concept per call (each row rewrites c.aliases).
// param rows: list - maps {merge_id, canonical_id, duplicate_id, method, score, created_at, aliases}; aliases: the names to add to the canonical concept
// columns: merge_id, canonical_id, duplicate_id, added_aliases
// mode: write
UNWIND $rows AS row
MATCH (d:Concept {id: row.duplicate_id})
MATCH (c:Concept {id: row.canonical_id})
WHERE d.merged_into IS NULL AND c.merged_into IS NULL AND d.discipline = c.discipline AND d.id <> c.id
WITH row, d, c, [a IN row.aliases WHERE NOT a IN coalesce(c.aliases, [])] AS added
CREATE (m:Merge {id: row.merge_id, discipline: d.discipline, canonical_id: c.id, canonical_name: c.name,
                 duplicate_id: d.id, duplicate_name: d.name, method: row.method, score: row.score,
                 created_at: row.created_at, undone: false, added_aliases: added})
CREATE (d)-[:SAME_AS {merge_id: row.merge_id}]->(c)
CREATE (m)-[:MERGED]->(d)
CREATE (m)-[:INTO]->(c)
SET d.merged_into = c.id, c.aliases = coalesce(c.aliases, []) + added
RETURN m.id AS merge_id, c.id AS canonical_id, d.id AS duplicate_id, added AS added_aliases
