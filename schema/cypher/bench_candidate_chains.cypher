// name: bench_candidate_chains
// purpose: The held-out chains a benchmark is built from: chains of the given splits (test, dev), per discipline, with their origin (extracted, or composed by proda compose; chains written before origin existed are extracted).
// param splits: list - splits to take, e.g. ["test", "dev"]
// param discipline: string? - one discipline (null: all)
// columns: id, discipline, split, length, origin
// mode: read
MATCH (ch:Chain)
WHERE ch.split IN $splits AND ($discipline IS NULL OR ch.discipline = $discipline)
RETURN ch.id AS id, ch.discipline AS discipline, ch.split AS split,
       coalesce(ch.length, size(ch.relation_ids)) AS length, coalesce(ch.origin, 'extracted') AS origin
