// name: eval_answered
// purpose: Ids of the items a run has already answered (an interrupted evaluation resumes without re-scoring them).
// param run_id: string - the run id
// columns: item_id
// mode: read
MATCH (:EvalRun {id: $run_id})-[:ANSWERED]->(i:BenchmarkItem)
RETURN i.id AS item_id
