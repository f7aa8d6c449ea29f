// name: debug_eval_run
// purpose: The Debugger's entry point: an evaluation run found by its id or its name, with how many answers it recorded when it finished (n) and how many ANSWERED edges still reach a benchmark item now (a gap means items were deleted since).
// param run: string - the run id (evr_...) or the run name
// columns: id, name, model, mode, benchmark, split, status, recorded, answered
// mode: read
MATCH (r:EvalRun)
WHERE r.id = $run OR r.name = $run
RETURN r.id AS id, r.name AS name, r.model AS model, r.mode AS mode, r.benchmark AS benchmark, r.split AS split,
       r.status AS status, r.n AS recorded, size([(r)-[:ANSWERED]->(:BenchmarkItem) | 1]) AS answered
ORDER BY id
