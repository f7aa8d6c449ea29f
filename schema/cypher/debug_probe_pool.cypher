// name: debug_probe_pool
// purpose: Distractor candidates for the Debugger's single-hop probes in one discipline: per relation type, live concepts that are the object of some relation of that type (they fill the same role as the true answer), and under type '*' live concepts of the discipline as a fallback; each list is cut at limit (in id order, which a hash id makes an arbitrary sample). Candidates are proven wrong afterwards with bench_reach.
// param discipline: string - the discipline
// param types: list - relation types (strings)
// param limit: int - most candidates per type
// columns: type, concept_id, name, canonical_id, aliases
// mode: read
UNWIND $types AS t
MATCH (:Concept {discipline: $discipline})-[r:RELATION {type: t}]->(b:Concept)
WHERE r.stale IS NULL AND b.stale IS NULL AND b.merged_into IS NULL
WITH DISTINCT t, b
ORDER BY t, b.id
WITH t, collect(b)[..$limit] AS objects
UNWIND objects AS b
RETURN t AS type, b.id AS concept_id, b.name AS name, b.id AS canonical_id, coalesce(b.aliases, []) AS aliases
UNION ALL
MATCH (b:Concept {discipline: $discipline})
WHERE b.stale IS NULL AND b.merged_into IS NULL
WITH b ORDER BY b.id LIMIT $limit
RETURN '*' AS type, b.id AS concept_id, b.name AS name, b.id AS canonical_id, coalesce(b.aliases, []) AS aliases
