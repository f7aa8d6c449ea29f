// name: debug_run_disciplines
// purpose: Per discipline, how many items an evaluation run answered and how many of them wrong (a failed item is an ANSWERED edge with correct = false, unparseable answers included): the Debugger's shards.
// param run_id: string - the run id
// columns: discipline, answered, failed
// mode: read
MATCH (:EvalRun {id: $run_id})-[a:ANSWERED]->(i:BenchmarkItem)
RETURN i.discipline AS discipline, count(a) AS answered,
       sum(CASE WHEN a.correct = false THEN 1 ELSE 0 END) AS failed
ORDER BY discipline
