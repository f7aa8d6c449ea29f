// name: longest_chains
// purpose: The longest L3 chains (most steps first, ties by id), e.g. the one a demo traces back to its evidence.
// param limit: int = 1 - most rows returned
// columns: id, discipline, length
// mode: read
MATCH (c:Chain)
RETURN c.id AS id, c.discipline AS discipline, c.length AS length
ORDER BY length DESC, id
LIMIT $limit
