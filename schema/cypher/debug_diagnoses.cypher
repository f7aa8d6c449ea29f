// name: debug_diagnoses
// purpose: The stored diagnoses of an evaluation run (optionally one discipline) with the item they diagnose, their kind, their full record (probes and weak elements) and the concepts linked as weak now.
// param run_id: string - the run id
// param discipline: string? - one discipline (null: all)
// columns: id, item_id, discipline, kind, probes, failed_probes, record, weak_concepts
// mode: read
MATCH (d:Diagnosis {run: $run_id})-[:DIAGNOSES]->(i:BenchmarkItem)
WHERE $discipline IS NULL OR d.discipline = $discipline
RETURN d.id AS id, i.id AS item_id, d.discipline AS discipline, d.kind AS kind, d.probes AS probes,
       d.failed_probes AS failed_probes, d.record AS record,
       [(d)-[:WEAK]->(c:Concept) | c.id] AS weak_concepts
ORDER BY id
