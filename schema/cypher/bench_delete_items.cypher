// name: bench_delete_items
// purpose: Delete one benchmark's items with their TESTS, OPTION and ANSWERED edges (chains and concepts stay); returns how many items went.
// param benchmark: string - the benchmark name
// columns: deleted
// mode: write
MATCH (i:BenchmarkItem {benchmark: $benchmark})
WITH collect(i) AS items
FOREACH (i IN items | DETACH DELETE i)
RETURN size(items) AS deleted
