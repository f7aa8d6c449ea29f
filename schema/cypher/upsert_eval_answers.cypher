// name: upsert_eval_answers
// purpose: One ANSWERED edge per evaluated item: (:EvalRun)-[:ANSWERED {chosen, correct, chosen_norm, correct_norm, chosen_operator, parsed, scores, raw}]->(:BenchmarkItem). MERGE, so re-scoring an item replaces its answer.
// param run_id: string - the run id
// param rows: list - maps {item_id, props}
// columns: written
// mode: write
MATCH (r:EvalRun {id: $run_id})
UNWIND $rows AS row
MATCH (i:BenchmarkItem {id: row.item_id})
MERGE (r)-[a:ANSWERED]->(i)
SET a += row.props
RETURN count(a) AS written
