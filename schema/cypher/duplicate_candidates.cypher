// name: duplicate_candidates
// purpose: Concepts of one discipline that share a match key (normalised, singularised name or alias): candidates for entity resolution.
// param discipline: string? - one discipline (null: all)
// param limit: int = 100 - most groups returned
// columns: discipline, key, ids, names
// mode: read
MATCH (c:Concept)
WHERE $discipline IS NULL OR c.discipline = $discipline
WITH c.discipline AS discipline, c.match_key AS key, collect(c.id) AS ids, collect(c.name) AS names
WHERE size(ids) > 1
RETURN discipline, key, ids, names
ORDER BY size(ids) DESC, key
LIMIT $limit
