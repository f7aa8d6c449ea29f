// name: bench_set_splits
// purpose: Record the split of chains that have none; a split already recorded is never changed (a test chain must not silently become train).
// param rows: list - maps {id, split, rule}; rule names how the split was drawn, e.g. hash-v1:test=0.1,dev=0.1
// columns: written
// mode: write
UNWIND $rows AS row
MATCH (ch:Chain {id: row.id})
WHERE ch.split IS NULL
SET ch.split = row.split, ch.split_rule = row.rule
RETURN count(ch) AS written
