// name: studio_benchmarks
// purpose: Stored benchmarks with their item counts per split and discipline.
// columns: benchmark, split, discipline, items
// mode: read
MATCH (i:BenchmarkItem)
RETURN i.benchmark AS benchmark, i.split AS split, i.discipline AS discipline, count(i) AS items
ORDER BY benchmark, split, discipline
