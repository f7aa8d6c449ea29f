// name: debug_upsert_diagnoses
// purpose: Write diagnoses of failed items: (:Diagnosis {id, run, item, discipline, kind, probes, failed_probes, weak_relations, weak_types, record})-[:DIAGNOSES]->(:BenchmarkItem), -[:FROM_RUN]->(:EvalRun) and -[:WEAK {role, relation_ids}]->(:Concept) per weak concept (role failed_hop for a concept gap, on_chain for a reasoning deficit). MERGE by the deterministic id; a rediagnosed item's WEAK edges are replaced, so reruns are idempotent. A row whose item or run is gone is skipped (the count tells).
// param rows: list - maps {id, run_id, item_id, props, weak}; weak: maps {concept_id, role, relation_ids}
// columns: written
// mode: write
UNWIND $rows AS row
MATCH (i:BenchmarkItem {id: row.item_id})
MATCH (r:EvalRun {id: row.run_id})
MERGE (d:Diagnosis {id: row.id})
SET d += row.props
MERGE (d)-[:DIAGNOSES]->(i)
MERGE (d)-[:FROM_RUN]->(r)
WITH d, row
OPTIONAL MATCH (d)-[old:WEAK]->(:Concept)
DELETE old
WITH DISTINCT d, row
UNWIND row.weak AS w
OPTIONAL MATCH (c:Concept {id: w.concept_id})
FOREACH (_ IN CASE WHEN c IS NULL THEN [] ELSE [1] END |
  CREATE (d)-[e:WEAK]->(c) SET e.role = w.role, e.relation_ids = w.relation_ids)
RETURN count(DISTINCT d) AS written
