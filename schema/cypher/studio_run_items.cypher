// name: studio_run_items
// purpose: One page of the items an evaluation run answered (only the wrong ones with $wrong_only), in id order, with the option chosen, the distractor operator behind it and the chain the item tests.
// param run_id: string - the run id
// param wrong_only: bool = true - only the items answered wrong
// param skip: int = 0 - rows skipped first
// param limit: int = 50 - page size
// columns: item_id, discipline, chain_id, correct, chosen, chosen_operator, record
// mode: read
MATCH (:EvalRun {id: $run_id})-[a:ANSWERED]->(i:BenchmarkItem)
WHERE NOT $wrong_only OR a.correct = false
RETURN i.id AS item_id, i.discipline AS discipline, i.chain_id AS chain_id, a.correct AS correct, a.chosen AS chosen,
       a.chosen_operator AS chosen_operator, i.record AS record
ORDER BY item_id SKIP $skip LIMIT $limit
