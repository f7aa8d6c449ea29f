// name: bench_split_counts
// purpose: Chains per discipline, chain length and split (null: not split yet): shows how well each stratum matches the configured ratios.
// param discipline: string? - one discipline (null: all)
// columns: discipline, length, split, chains
// mode: read
MATCH (ch:Chain)
WHERE $discipline IS NULL OR ch.discipline = $discipline
RETURN ch.discipline AS discipline, coalesce(ch.length, size(ch.relation_ids)) AS length, ch.split AS split,
       count(ch) AS chains
ORDER BY discipline, length, split
