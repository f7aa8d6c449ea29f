// name: studio_bench_page
// purpose: One page of a benchmark's items in id order (optionally one discipline and split) with the item record (question, options, operators) and whether the chain it tests is still linked.
// param benchmark: string - the benchmark name
// param discipline: string? - one discipline (null: all)
// param split: string? - test or dev (null: both)
// param skip: int = 0 - rows skipped first
// param limit: int = 50 - page size
// columns: id, discipline, split, chain_id, linked_chain_id, record
// mode: read
MATCH (i:BenchmarkItem {benchmark: $benchmark})
WHERE ($discipline IS NULL OR i.discipline = $discipline) AND ($split IS NULL OR i.split = $split)
WITH i ORDER BY i.id SKIP $skip LIMIT $limit
OPTIONAL MATCH (i)-[:TESTS]->(ch:Chain)
RETURN i.id AS id, i.discipline AS discipline, i.split AS split, i.chain_id AS chain_id, ch.id AS linked_chain_id,
       i.record AS record
ORDER BY id
