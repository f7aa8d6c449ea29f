// name: eval_operator_items
// purpose: Per distractor operator, how many items answered in one evaluation run offered at least one distractor it made (the denominator of per-operator error rates).
// param run_id: string - the run id
// columns: operator, items
// mode: read
MATCH (:EvalRun {id: $run_id})-[:ANSWERED]->(i:BenchmarkItem)-[o:OPTION]->(:Concept)
WHERE o.correct = false
RETURN o.operator AS operator, count(DISTINCT i) AS items
ORDER BY operator
