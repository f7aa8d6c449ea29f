// name: debug_failed_items
// purpose: The failed items of an evaluation run (ANSWERED correct = false) with their stored record, the chain they test as linked now (null: the chain is gone) and the answer given: what the Debugger diagnoses.
// param run_id: string - the run id
// param discipline: string? - one discipline (null: all)
// columns: item_id, discipline, chain_id, linked_chain_id, record, chosen, chosen_operator, parsed
// mode: read
MATCH (:EvalRun {id: $run_id})-[a:ANSWERED]->(i:BenchmarkItem)
WHERE a.correct = false AND ($discipline IS NULL OR i.discipline = $discipline)
OPTIONAL MATCH (i)-[:TESTS]->(ch:Chain)
RETURN i.id AS item_id, i.discipline AS discipline, i.chain_id AS chain_id, ch.id AS linked_chain_id,
       i.record AS record, a.chosen AS chosen, a.chosen_operator AS chosen_operator, a.parsed AS parsed
ORDER BY item_id
