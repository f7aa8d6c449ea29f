// name: eval_runs
// purpose: Evaluation runs, newest first (or the one whose id or name is $run): model, benchmark, split, mode, status, the answers it recorded when it finished, the answered items still in the graph (fewer than recorded: items were deleted since), wrong answers and accuracy; the entry point of a Debugger traceback and of proda patch.
// param run: string? - an EvalRun id or name (null: every run)
// param limit: int = 100 - most rows
// columns: id, name, model, benchmark, split, mode, status, recorded, items, wrong, accuracy, started_at
// mode: read
MATCH (r:EvalRun)
WHERE $run IS NULL OR r.id = $run OR r.name = $run
OPTIONAL MATCH (r)-[a:ANSWERED]->(:BenchmarkItem)
WITH r, count(a) AS items, count(CASE WHEN a IS NULL OR a.correct THEN null ELSE 1 END) AS wrong
RETURN r.id AS id, r.name AS name, r.model AS model, r.benchmark AS benchmark, r.split AS split, r.mode AS mode,
       r.status AS status, r.n AS recorded, items, wrong,
       CASE WHEN items = 0 THEN null ELSE toFloat(items - wrong) / items END AS accuracy,
       r.started_at AS started_at
ORDER BY coalesce(started_at, '') DESC, id
LIMIT $limit
