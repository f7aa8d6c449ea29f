// name: uncovered_concepts
// purpose: L1 concepts that lie on no L3 chain (reachability orphans), with their degree.
// param discipline: string? - one discipline (null: all)
// param limit: int = 100 - most rows returned
// columns: id, name, discipline, degree
// mode: read
MATCH (c:Concept)
WHERE ($discipline IS NULL OR c.discipline = $discipline) AND NOT (c)<-[:HAS_STEP]-(:Chain)
RETURN c.id AS id, c.name AS name, c.discipline AS discipline, size([(c)-[:RELATION]-() | 1]) AS degree
ORDER BY degree DESC, id
LIMIT $limit
