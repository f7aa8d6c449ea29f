// name: eval_totals
// purpose: Totals of one evaluation run from its stored ANSWERED edges: items answered, correct, correct by the length-normalised score (counted only where it was recorded), and unparseable answers.
// param run_id: string - the run id
// columns: items, correct, correct_norm, has_norm, unparseable
// mode: read
MATCH (:EvalRun {id: $run_id})-[a:ANSWERED]->()
RETURN count(a) AS items,
       count(CASE WHEN a.correct THEN 1 END) AS correct,
       count(CASE WHEN a.correct_norm THEN 1 END) AS correct_norm,
       count(CASE WHEN a.correct_norm IS NULL THEN null ELSE 1 END) AS has_norm,
       count(CASE WHEN a.parsed = false THEN 1 END) AS unparseable
