// name: orphan_counts
// purpose: Counts of structural orphans per discipline: isolated concepts and broken chains (steps missing or an edge deleted since extraction).
// param discipline: string? - one discipline (null: all)
// columns: discipline, kind, count
// mode: read
// Isolated = total minus concepts with a relation (one pass over edges instead of a NOT-pattern
// per concept); a step is broken when its relation id no longer resolves through the index.
MATCH (c:Concept) WHERE $discipline IS NULL OR c.discipline = $discipline
WITH c.discipline AS discipline, count(c) AS total
OPTIONAL MATCH (x:Concept {discipline: discipline})-[:RELATION]-()
WITH discipline, total, count(DISTINCT x) AS linked
WHERE total - linked > 0
RETURN discipline, 'isolated_concept' AS kind, total - linked AS count
UNION ALL
MATCH (ch:Chain)-[s:HAS_STEP]->()
WHERE ($discipline IS NULL OR ch.discipline = $discipline) AND s.relation_id IS NOT NULL
OPTIONAL MATCH ()-[r:RELATION {id: s.relation_id}]->()
WITH ch, r WHERE r IS NULL
WITH DISTINCT ch
RETURN ch.discipline AS discipline, 'broken_chain' AS kind, count(ch) AS count
