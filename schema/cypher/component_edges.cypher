// name: component_edges
// purpose: Concept adjacency (L2 relations and entity-resolution SAME_AS links) for client-side connected components (the fallback where neither algo.WCC nor GDS exists); isolated concepts come back with a null neighbour.
// param discipline: string? - one discipline (null: all)
// columns: id, discipline, neighbour
// mode: read
MATCH (c:Concept)
WHERE $discipline IS NULL OR c.discipline = $discipline
OPTIONAL MATCH (c)-[:RELATION|SAME_AS]->(n:Concept)
RETURN c.id AS id, c.discipline AS discipline, n.id AS neighbour
