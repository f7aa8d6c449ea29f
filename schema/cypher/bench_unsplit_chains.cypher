// name: bench_unsplit_chains
// purpose: L3 chains without a split (new since the last split, or cleared by a re-extraction), with their stratum (discipline, length) and the split pinned by a benchmark item already built from the chain (null: none), which always wins so a rebuilt chain can never move from test to train.
// param discipline: string? - one discipline (null: all)
// columns: id, discipline, length, pinned
// mode: read
MATCH (ch:Chain)
WHERE ch.split IS NULL AND ($discipline IS NULL OR ch.discipline = $discipline)
OPTIONAL MATCH (i:BenchmarkItem)-[:TESTS]->(ch)
RETURN ch.id AS id, ch.discipline AS discipline, coalesce(ch.length, size(ch.relation_ids)) AS length,
       head(collect(DISTINCT i.split)) AS pinned
