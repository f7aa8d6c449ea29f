// name: benchmark_hash_hits
// purpose: Which of the given instance hashes belong to a benchmark item: the Builder drops those examples before writing, so no training example is instance-identical to a benchmark item.
// param hashes: list - qa_hash values (strings)
// columns: qa_hash
// mode: read
UNWIND $hashes AS h
MATCH (i:BenchmarkItem {qa_hash: h})
RETURN DISTINCT i.qa_hash AS qa_hash
