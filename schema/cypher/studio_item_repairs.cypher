// name: studio_item_repairs
// purpose: What the Debugger made of one benchmark item: its diagnoses (optionally of one run) with the concepts marked weak and the patches written to repair them.
// param item_id: string - the benchmark item id
// param run_id: string? - only diagnoses of this evaluation run (null: all runs)
// columns: diagnosis_id, run_id, kind, probes, failed_probes, record, weak, patches
// mode: read
// The run filter follows a WITH: in the MATCH, FalkorDB 4.16 starts from a scan of every diagnosis.
MATCH (:BenchmarkItem {id: $item_id})<-[:DIAGNOSES]-(d:Diagnosis)
WITH d WHERE $run_id IS NULL OR d.run = $run_id
RETURN d.id AS diagnosis_id, d.run AS run_id, d.kind AS kind, d.probes AS probes, d.failed_probes AS failed_probes,
       d.record AS record,
       [(d)-[:WEAK]->(c:Concept) | {id: c.id, name: c.name}] AS weak,
       [(p:Patch)-[:REPAIRS]->(d) | {id: p.id, kind: p.kind, family: p.family, set_id: p.set_id, messages: p.messages}]
         AS patches
ORDER BY diagnosis_id
