// name: eval_summary
// purpose: Accuracy of an evaluation run per discipline, per chain length and, for wrong answers, per distractor operator that was chosen (the Debugger's raw material).
// param run_id: string - the run id
// columns: grouping, key, items, correct, unparseable
// mode: read
MATCH (:EvalRun {id: $run_id})-[a:ANSWERED]->(i:BenchmarkItem)
RETURN 'discipline' AS grouping, i.discipline AS key, count(a) AS items,
       count(CASE WHEN a.correct THEN 1 END) AS correct,
       count(CASE WHEN a.parsed = false THEN 1 END) AS unparseable
UNION ALL
MATCH (:EvalRun {id: $run_id})-[a:ANSWERED]->(i:BenchmarkItem)
OPTIONAL MATCH (i)-[:TESTS]->(ch:Chain)
RETURN 'chain_length' AS grouping, coalesce(toString(ch.length), 'chain gone') AS key, count(a) AS items,
       count(CASE WHEN a.correct THEN 1 END) AS correct,
       count(CASE WHEN a.parsed = false THEN 1 END) AS unparseable
UNION ALL
MATCH (:EvalRun {id: $run_id})-[a:ANSWERED]->(i:BenchmarkItem)
WHERE NOT a.correct AND a.chosen_operator IS NOT NULL
RETURN 'wrong_operator' AS grouping, a.chosen_operator AS key, count(a) AS items, 0 AS correct, 0 AS unparseable
