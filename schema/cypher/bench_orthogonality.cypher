// name: bench_orthogonality
// purpose: Proves the benchmark and the training data are orthogonal at the instance level (method.md) by listing every violation; no rows = orthogonal. Contract for later stages: a (:TrainingExample) or (:Patch) node carries qa_hash = proda.pipelines.tester.instance_hash(question, answer) and links (x)-[:FROM_CHAIN]->(:Chain) to every L3 chain it was built from (f_cot scaffolds included). Violations: untraced_scaffold (an f_cot patch that links no chain, so its chains cannot be checked), unhashed_patch (a patch without qa_hash cannot be compared), instance_identical (same qa_hash as a benchmark item), from_held_out_chain (built from a chain whose split is not train: test, dev or not split yet), item_chain_not_held_out (a benchmark item tests a chain that is no longer test or dev). Runs, and finds nothing, before those labels exist.
// columns: violation, kind, element_id, item_id, chain_id, split
// mode: read
MATCH (x:TrainingExample)
WHERE x.qa_hash IS NOT NULL
MATCH (i:BenchmarkItem {qa_hash: x.qa_hash})
RETURN 'instance_identical' AS violation, 'TrainingExample' AS kind, x.id AS element_id, i.id AS item_id,
       i.chain_id AS chain_id, i.split AS split
UNION ALL
MATCH (x:Patch)
WHERE x.qa_hash IS NOT NULL
MATCH (i:BenchmarkItem {qa_hash: x.qa_hash})
RETURN 'instance_identical' AS violation, 'Patch' AS kind, x.id AS element_id, i.id AS item_id,
       i.chain_id AS chain_id, i.split AS split
UNION ALL
MATCH (x:TrainingExample)-[:FROM_CHAIN]->(ch:Chain)
WHERE ch.split IS NULL OR ch.split <> 'train'
RETURN 'from_held_out_chain' AS violation, 'TrainingExample' AS kind, x.id AS element_id, null AS item_id,
       ch.id AS chain_id, ch.split AS split
UNION ALL
MATCH (x:Patch)-[:FROM_CHAIN]->(ch:Chain)
WHERE ch.split IS NULL OR ch.split <> 'train'
RETURN 'from_held_out_chain' AS violation, 'Patch' AS kind, x.id AS element_id, null AS item_id,
       ch.id AS chain_id, ch.split AS split
UNION ALL
MATCH (i:BenchmarkItem)-[:TESTS]->(ch:Chain)
WHERE ch.split IS NULL OR NOT ch.split IN ['test', 'dev']
RETURN 'item_chain_not_held_out' AS violation, 'BenchmarkItem' AS kind, i.id AS element_id, i.id AS item_id,
       ch.id AS chain_id, ch.split AS split
UNION ALL
MATCH (x:Patch {kind: 'f_cot'})
WHERE NOT (x)-[:FROM_CHAIN]->(:Chain)
RETURN 'untraced_scaffold' AS violation, 'Patch' AS kind, x.id AS element_id, null AS item_id, null AS chain_id,
       null AS split
UNION ALL
MATCH (x:Patch)
WHERE x.qa_hash IS NULL
RETURN 'unhashed_patch' AS violation, 'Patch' AS kind, x.id AS element_id, null AS item_id, null AS chain_id,
       null AS split
