// name: traceback_run_edges
// purpose: Debugger traceback of an evaluation run per L2 relation edge, worst first: of the answered items whose chain takes the edge, how many were answered wrong (failure rate with its support), which distractor operators fooled the model there, one wrong item as a sample, and the edge's evidence, chunk and document.
// param run: string - the EvalRun id or name
// param discipline: string? - only items of this discipline (null: all)
// param min_support: int = 1 - leave out edges fewer answered items rest on
// param limit: int = 20 - most rows
// columns: relation_id, relation_type, subject_id, subject_name, object_id, object_name, discipline, items, wrong, failure_rate, fooled_by, sample_item_id, evidence, chunk_id, chunk_text, document_id, document_title
// mode: read
MATCH (r:EvalRun)
WHERE r.id = $run OR r.name = $run
MATCH (r)-[a:ANSWERED]->(i:BenchmarkItem)-[:TESTS]->(:Chain)-[s:HAS_STEP]->(c:Concept)
WHERE s.relation_id IS NOT NULL AND ($discipline IS NULL OR i.discipline = $discipline)
// the step's concept is the edge's subject; a chain that takes an edge twice counts its item once
WITH DISTINCT c, s.relation_id AS relation_id, i, a
WITH c, relation_id, count(i) AS items, count(CASE WHEN a.correct THEN null ELSE 1 END) AS wrong,
     collect(CASE WHEN a.correct THEN null ELSE a.chosen_operator END) AS ops,
     collect(CASE WHEN a.correct THEN null ELSE i.id END) AS wrong_items
WHERE items >= $min_support
WITH c, relation_id, items, wrong, toFloat(wrong) / items AS failure_rate, ops, wrong_items
ORDER BY failure_rate DESC, wrong DESC, items DESC, relation_id
LIMIT $limit
WITH c, relation_id, items, wrong, failure_rate,
     [op IN reduce(seen = [], x IN ops | CASE WHEN x IN seen THEN seen ELSE seen + [x] END)
      | {operator: op, wrong: size([y IN ops WHERE y = op])}] AS fooled_by,
     reduce(least = null, w IN wrong_items | CASE WHEN least IS NULL OR w < least THEN w ELSE least END)
       AS sample_item_id
OPTIONAL MATCH (c)-[e:RELATION {id: relation_id}]->(o:Concept)
// project the chunk id first: FalkorDB's index seek cannot read a property of an optional match
WITH c, relation_id, items, wrong, failure_rate, fooled_by, sample_item_id, e, o, e.chunk_id AS chunk_ref
OPTIONAL MATCH (k:Chunk {id: chunk_ref})<-[:HAS_CHUNK]-(d:Document)
RETURN relation_id, e.type AS relation_type, c.id AS subject_id, c.name AS subject_name, o.id AS object_id,
       o.name AS object_name, c.discipline AS discipline, items, wrong, failure_rate, fooled_by, sample_item_id,
       e.evidence AS evidence, k.id AS chunk_id, substring(k.text, 0, 300) AS chunk_text, d.id AS document_id,
       d.title AS document_title
ORDER BY failure_rate DESC, wrong DESC, items DESC, relation_id
