// name: debug_upsert_patch_set
// purpose: Write one discipline's patch set whole, in one statement: first remove the set's previous patches (a replaced set leaves none behind), then MERGE every (:Patch {id, patch_set, discipline, kind: f_refine|f_cot|replay, family, messages, qa_hash}) with its links -[:REPAIRS]->(:Diagnosis), -[:TEACHES]->(:Concept), -[:FROM_CHAIN]->(:Chain) (f_cot: train chains only), -[:FROM_CHUNK]->(:Chunk), -[:REPLAYS]->(:TrainingExample), and last the (:PatchSet {id, status: 'complete'})-[:FROM_RUN]->(:EvalRun) node that marks the shard done. Patch rows carry qa_hash (bench_orthogonality checks them).
// param set_id: string - the PatchSet id
// param run_id: string - the evaluation run the set repairs
// param set_props: map - PatchSet properties (name, discipline, fingerprint, counts, ...)
// param rows: list - maps {id, props, repairs, teaches, chains, chunks, replays}; the last five are id lists
// columns: written
// mode: write
OPTIONAL MATCH (old:Patch {set_id: $set_id})
DETACH DELETE old
WITH count(*) AS cleared
UNWIND $rows AS row
MERGE (p:Patch {id: row.id})
SET p += row.props, p.set_id = $set_id
WITH p, row
OPTIONAL MATCH (d:Diagnosis) WHERE d.id IN row.repairs
WITH p, row, collect(d) AS found
FOREACH (d IN found | MERGE (p)-[:REPAIRS]->(d))
WITH p, row
OPTIONAL MATCH (c:Concept) WHERE c.id IN row.teaches
WITH p, row, collect(c) AS found
FOREACH (c IN found | MERGE (p)-[:TEACHES]->(c))
WITH p, row
OPTIONAL MATCH (ch:Chain) WHERE ch.id IN row.chains
WITH p, row, collect(ch) AS found
FOREACH (ch IN found | MERGE (p)-[:FROM_CHAIN]->(ch))
WITH p, row
OPTIONAL MATCH (k:Chunk) WHERE k.id IN row.chunks
WITH p, row, collect(k) AS found
FOREACH (k IN found | MERGE (p)-[:FROM_CHUNK]->(k))
WITH p, row
OPTIONAL MATCH (x:TrainingExample) WHERE x.id IN row.replays
WITH p, collect(x) AS found
FOREACH (x IN found | MERGE (p)-[:REPLAYS]->(x))
WITH count(p) AS written
MERGE (s:PatchSet {id: $set_id})
SET s += $set_props, s.patches = written, s.status = 'complete'
WITH s, written
OPTIONAL MATCH (r:EvalRun {id: $run_id})
FOREACH (_ IN CASE WHEN r IS NULL THEN [] ELSE [1] END | MERGE (s)-[:FROM_RUN]->(r))
RETURN written
