// name: upsert_eval_run
// purpose: Create or update an evaluation run: (:EvalRun {id, model, benchmark, split, mode, ...}); its per-item answers are upsert_eval_answers.
// param id: string - the run id
// param props: map - run properties (model, benchmark, split, mode, started_at, finished_at, n, acc, acc_norm, unparseable, status)
// columns: id
// mode: write
MERGE (r:EvalRun {id: $id})
SET r += $props
RETURN r.id AS id
