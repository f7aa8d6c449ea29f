// name: traceback_run_relation_types
// purpose: Debugger traceback of an evaluation run per L2 relation type, worst first: of the answered items whose chain takes an edge of the type, how many were answered wrong (failure rate with its support), over how many distinct edges, and which distractor operators fooled the model there.
// param run: string - the EvalRun id or name
// param discipline: string? - only items of this discipline (null: all)
// param min_support: int = 1 - leave out types fewer answered items rest on
// param limit: int = 20 - most rows
// columns: relation_type, edges, items, wrong, failure_rate, fooled_by, sample_item_id
// mode: read
MATCH (r:EvalRun)
WHERE r.id = $run OR r.name = $run
MATCH (r)-[a:ANSWERED]->(i:BenchmarkItem)-[:TESTS]->(:Chain)-[s:HAS_STEP]->(c:Concept)
WHERE s.relation_id IS NOT NULL AND ($discipline IS NULL OR i.discipline = $discipline)
WITH a, i, c, s.relation_id AS relation_id
MATCH (c)-[e:RELATION {id: relation_id}]->(:Concept)
// one row per (type, item): the item counts once however many edges of the type its chain takes
WITH e.type AS relation_type, i, a, collect(DISTINCT e.id) AS edge_ids
WITH relation_type, count(i) AS items, count(CASE WHEN a.correct THEN null ELSE 1 END) AS wrong,
     collect(CASE WHEN a.correct THEN null ELSE a.chosen_operator END) AS ops,
     collect(CASE WHEN a.correct THEN null ELSE i.id END) AS wrong_items, collect(edge_ids) AS edge_lists
WHERE items >= $min_support
WITH relation_type, items, wrong, toFloat(wrong) / items AS failure_rate, ops, wrong_items, edge_lists
ORDER BY failure_rate DESC, wrong DESC, items DESC, relation_type
LIMIT $limit
RETURN relation_type,
       size(reduce(seen = [], ids IN edge_lists | seen + [z IN ids WHERE NOT z IN seen])) AS edges,
       items, wrong, failure_rate,
       [op IN reduce(seen2 = [], x IN ops | CASE WHEN x IN seen2 THEN seen2 ELSE seen2 + [x] END)
        | {operator: op, wrong: size([y IN ops WHERE y = op])}] AS fooled_by,
       reduce(least = null, w IN wrong_items | CASE WHEN least IS NULL OR w < least THEN w ELSE least END)
         AS sample_item_id
ORDER BY failure_rate DESC, wrong DESC, items DESC, relation_type
