// name: traceback_run_concepts
// purpose: Debugger traceback of an evaluation run per L1 concept, worst first: of the answered items whose chain passes the concept, how many were answered wrong (failure rate with its support), which distractor operators fooled the model there, one wrong item as a sample, and a chunk the concept was harvested from (the first by id) with its document as evidence.
// param run: string - the EvalRun id or name
// param discipline: string? - only items of this discipline (null: all)
// param min_support: int = 1 - leave out concepts fewer answered items rest on
// param limit: int = 20 - most rows
// columns: concept_id, concept_name, discipline, items, wrong, failure_rate, fooled_by, sample_item_id, chunk_id, chunk_text, document_id, document_title
// mode: read
MATCH (r:EvalRun)
WHERE r.id = $run OR r.name = $run
MATCH (r)-[a:ANSWERED]->(i:BenchmarkItem)-[:TESTS]->(:Chain)-[:HAS_STEP]->(c:Concept)
WHERE $discipline IS NULL OR i.discipline = $discipline
// a chain that passes a concept twice still counts its item once
WITH DISTINCT c, i, a
WITH c, count(i) AS items, count(CASE WHEN a.correct THEN null ELSE 1 END) AS wrong,
     collect(CASE WHEN a.correct THEN null ELSE a.chosen_operator END) AS ops,
     collect(CASE WHEN a.correct THEN null ELSE i.id END) AS wrong_items
WHERE items >= $min_support
WITH c, items, wrong, toFloat(wrong) / items AS failure_rate, ops, wrong_items
ORDER BY failure_rate DESC, wrong DESC, items DESC, c.id
LIMIT $limit
// distinct names in each comprehension: FalkorDB confuses a name reused across them
WITH c, items, wrong, failure_rate,
     [op IN reduce(seen = [], x IN ops | CASE WHEN x IN seen THEN seen ELSE seen + [x] END)
      | {operator: op, wrong: size([y IN ops WHERE y = op])}] AS fooled_by,
     reduce(least = null, w IN wrong_items | CASE WHEN least IS NULL OR w < least THEN w ELSE least END)
       AS sample_item_id,
     reduce(lowest = null, kid IN [(c)-[:MENTIONED_IN]->(k0:Chunk) | k0.id]
            | CASE WHEN lowest IS NULL OR kid < lowest THEN kid ELSE lowest END) AS chunk_ref
// project the chunk id first: FalkorDB's index seek cannot read a property of an optional match
OPTIONAL MATCH (k:Chunk {id: chunk_ref})<-[:HAS_CHUNK]-(d:Document)
RETURN c.id AS concept_id, c.name AS concept_name, c.discipline AS discipline, items, wrong, failure_rate,
       fooled_by, sample_item_id, k.id AS chunk_id, substring(k.text, 0, 300) AS chunk_text, d.id AS document_id,
       d.title AS document_title
ORDER BY failure_rate DESC, wrong DESC, items DESC, concept_id
