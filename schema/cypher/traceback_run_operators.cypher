// name: traceback_run_operators
// purpose: Which distractor operator fooled the model in an evaluation run: per operator (INVREL, TRUNC, NEARMISS), the answered items that offered one of its distractors, how many of them the model answered with it, and that share; most fooling first.
// param run: string - the EvalRun id or name
// param discipline: string? - only items of this discipline (null: all)
// param min_support: int = 1 - leave out operators offered by fewer answered items
// param limit: int = 20 - most rows
// columns: operator, offered, fooled, fooled_rate, sample_item_id
// mode: read
MATCH (r:EvalRun)
WHERE r.id = $run OR r.name = $run
MATCH (r)-[a:ANSWERED]->(i:BenchmarkItem)-[o:OPTION]->(:Concept)
WHERE o.operator IS NOT NULL AND o.operator <> 'ANSWER' AND ($discipline IS NULL OR i.discipline = $discipline)
// an item offering two distractors of one operator counts once
WITH DISTINCT o.operator AS operator, i, a
WITH operator, count(i) AS offered,
     count(CASE WHEN a.chosen_operator = operator AND NOT coalesce(a.correct, false) THEN 1 END) AS fooled,
     collect(CASE WHEN a.chosen_operator = operator AND NOT coalesce(a.correct, false) THEN i.id ELSE null END)
       AS fooled_items
WHERE offered >= $min_support
RETURN operator, offered, fooled, toFloat(fooled) / offered AS fooled_rate,
       reduce(least = null, w IN fooled_items | CASE WHEN least IS NULL OR w < least THEN w ELSE least END)
         AS sample_item_id
ORDER BY fooled_rate DESC, fooled DESC, offered DESC, operator
LIMIT $limit
