// name: studio_chain_lengths
// purpose: Histogram of L3 chain lengths (relations per chain) per discipline, with how many chains of each length are stale.
// param discipline: string? - one discipline (null: all)
// columns: discipline, length, chains, stale
// mode: read
MATCH (c:Chain)
WHERE $discipline IS NULL OR c.discipline = $discipline
RETURN c.discipline AS discipline, size(c.relation_ids) AS length, count(c) AS chains,
       count(CASE WHEN c.stale = true THEN 1 END) AS stale
ORDER BY discipline, length
