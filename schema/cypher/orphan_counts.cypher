// name: orphan_counts
// purpose: Counts of structural orphans per discipline: isolated concepts and broken chains (steps missing or an edge deleted since extraction).
// param discipline: string? - one discipline (null: all)
// columns: discipline, kind, count
// mode: read
MATCH (c:Concept)
WHERE ($discipline IS NULL OR c.discipline = $discipline) AND NOT (c)-[:RELATION]-()
RETURN c.discipline AS discipline, 'isolated_concept' AS kind, count(c) AS count
UNION ALL
MATCH (ch:Chain)-[s:HAS_STEP]->(c:Concept)
WHERE ($discipline IS NULL OR ch.discipline = $discipline) AND s.relation_id IS NOT NULL
OPTIONAL MATCH (c)-[r:RELATION {id: s.relation_id}]->()
WITH ch, r WHERE r IS NULL
WITH DISTINCT ch
RETURN ch.discipline AS discipline, 'broken_chain' AS kind, count(ch) AS count
