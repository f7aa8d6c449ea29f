// name: traceback_run_disciplines
// purpose: Debugger traceback of an evaluation run per discipline, worst first: answered items, wrong answers (failure rate with its support), unparseable answers, and which distractor operators fooled the model; also the Debugger's shards (proda patch: the disciplines with wrong answers, a wrong answer being a failed item).
// param run: string - the EvalRun id or name
// param discipline: string? - only this discipline (null: all)
// param min_support: int = 1 - leave out disciplines with fewer answered items
// param limit: int = 20 - most rows
// columns: discipline, items, wrong, unparseable, failure_rate, fooled_by, sample_item_id
// mode: read
MATCH (r:EvalRun)
WHERE r.id = $run OR r.name = $run
MATCH (r)-[a:ANSWERED]->(i:BenchmarkItem)
WHERE $discipline IS NULL OR i.discipline = $discipline
WITH i.discipline AS discipline, count(i) AS items, count(CASE WHEN a.correct THEN null ELSE 1 END) AS wrong,
     count(CASE WHEN a.parsed = false THEN 1 END) AS unparseable,
     collect(CASE WHEN a.correct THEN null ELSE a.chosen_operator END) AS ops,
     collect(CASE WHEN a.correct THEN null ELSE i.id END) AS wrong_items
WHERE items >= $min_support
WITH discipline, items, wrong, unparseable, toFloat(wrong) / items AS failure_rate, ops, wrong_items
ORDER BY failure_rate DESC, wrong DESC, items DESC, discipline
LIMIT $limit
RETURN discipline, items, wrong, unparseable, failure_rate,
       [op IN reduce(seen = [], x IN ops | CASE WHEN x IN seen THEN seen ELSE seen + [x] END)
        | {operator: op, wrong: size([y IN ops WHERE y = op])}] AS fooled_by,
       reduce(least = null, w IN wrong_items | CASE WHEN least IS NULL OR w < least THEN w ELSE least END)
         AS sample_item_id
ORDER BY failure_rate DESC, wrong DESC, items DESC, discipline
