// name: undo_merge
// purpose: Undo one active merge exactly: delete its SAME_AS edge, clear the duplicate's merged_into, remove the aliases that merge added (only those) and mark the Merge undone (kept for audit). No row when the merge is unknown or already undone.
// param merge_id: string - the Merge id
// param undone_at: string - ISO-8601 time of the undo
// columns: merge_id, canonical_id, duplicate_id, removed_aliases
// mode: write
MATCH (m:Merge {id: $merge_id})
WHERE m.undone = false
MATCH (m)-[:MERGED]->(d:Concept)
MATCH (m)-[:INTO]->(c:Concept)
OPTIONAL MATCH (d)-[s:SAME_AS]->(c)
WHERE s.merge_id = m.id
DELETE s
SET d.merged_into = CASE WHEN d.merged_into = c.id THEN null ELSE d.merged_into END,
    c.aliases = [a IN coalesce(c.aliases, []) WHERE NOT a IN m.added_aliases],
    m.undone = true, m.undone_at = $undone_at
RETURN m.id AS merge_id, c.id AS canonical_id, d.id AS duplicate_id, m.added_aliases AS removed_aliases
