// name: eval_item_answers
// purpose: Per benchmark item whether one evaluation run answered it correctly (paired comparisons of two runs on the same items).
// param run_id: string - the run id
// columns: item, correct
// mode: read
MATCH (:EvalRun {id: $run_id})-[a:ANSWERED]->(i:BenchmarkItem)
RETURN i.id AS item, a.correct AS correct
ORDER BY item
