// name: compose_chains
// purpose: One page of a discipline's multi-step L3 chains for chain composition (keyset paging on the chain id): origin, relation ids and how many nodes refer to the chain (benchmark items, patches), so composition can skip paths already stated by an extractor and remove composed chains that no longer apply and that nothing refers to.
// param discipline: string - the discipline
// param after: string? - the last id of the previous page (null: first page)
// param limit: int = 5000 - chains per page
// columns: id, origin, relation_ids, refs
// mode: read
// One-step chains are left out: a composed chain has at least two steps, so it can neither equal nor lie
// inside one. A chain written before origin existed is an extracted one.
MATCH (ch:Chain)
WHERE ch.discipline = $discipline AND ($after IS NULL OR ch.id > $after)
  AND coalesce(ch.length, size(ch.relation_ids)) >= 2
WITH ch ORDER BY ch.id LIMIT $limit
OPTIONAL MATCH (ch)<-[x]-()
RETURN ch.id AS id, coalesce(ch.origin, 'extracted') AS origin, ch.relation_ids AS relation_ids, count(x) AS refs
ORDER BY id
