// name: debug_upsert_patch_set
// purpose: Write one discipline's patch set whole, in one statement: first remove the set's previous patches (a replaced set leaves none behind), then MERGE every (:Patch {id, patch_set, discipline, kind: f_refine|f_cot|replay, family, messages, qa_hash}) with its links -[:REPAIRS]->(:Diagnosis), -[:TEACHES]->(:Concept), -[:FROM_CHAIN]->(:Chain) (f_cot: train chains only), -[:FROM_CHUNK]->(:Chunk), -[:REPLAYS]->(:TrainingExample), and last the (:PatchSet {id, status: 'complete'})-[:FROM_RUN]->(:EvalRun) node that marks the shard done. Patch rows carry qa_hash (bench_orthogonality checks them).
// param set_id: string - the PatchSet id
// param run_id: string - the evaluation run the set repairs
// param set_props: map - PatchSet properties (name, discipline, fingerprint, counts, ...)
// param rows: list - maps {id, props, repairs, teaches, chains, chunks, replays}; the last five are id lists
// columns: written
// mode: write
// Each link list is unwound and its ids matched one by one, which uses the id indexes: `MATCH (x:L) WHERE
// x.id IN row.list` scanned every node of the label per patch in FalkorDB 4.16. The appended null keeps a
// patch with an empty list in the stream (a CALL subquery would drop it there: one aggregating over no
// rows returns none), and count(*) folds the rows back to one per patch.
OPTIONAL MATCH (old:Patch {set_id: $set_id})
DETACH DELETE old
WITH count(*) AS cleared
UNWIND $rows AS row
MERGE (p:Patch {id: row.id})
SET p += row.props, p.set_id = $set_id
WITH p, row
UNWIND row.repairs + [null] AS linked
OPTIONAL MATCH (d:Diagnosis {id: linked})
FOREACH (_ IN CASE WHEN d IS NULL THEN [] ELSE [1] END | MERGE (p)-[:REPAIRS]->(d))
WITH p, row, count(*) AS repairs
UNWIND row.teaches + [null] AS linked
OPTIONAL MATCH (c:Concept {id: linked})
FOREACH (_ IN CASE WHEN c IS NULL THEN [] ELSE [1] END | MERGE (p)-[:TEACHES]->(c))
WITH p, row, count(*) AS teaches
UNWIND row.chains + [null] AS linked
OPTIONAL MATCH (ch:Chain {id: linked})
FOREACH (_ IN CASE WHEN ch IS NULL THEN [] ELSE [1] END | MERGE (p)-[:FROM_CHAIN]->(ch))
WITH p, row, count(*) AS chains
UNWIND row.chunks + [null] AS linked
OPTIONAL MATCH (k:Chunk {id: linked})
FOREACH (_ IN CASE WHEN k IS NULL THEN [] ELSE [1] END | MERGE (p)-[:FROM_CHUNK]->(k))
WITH p, row, count(*) AS chunks
UNWIND row.replays + [null] AS linked
OPTIONAL MATCH (x:TrainingExample {id: linked})
FOREACH (_ IN CASE WHEN x IS NULL THEN [] ELSE [1] END | MERGE (p)-[:REPLAYS]->(x))
WITH p, row, count(*) AS replays
WITH count(p) AS written
MERGE (s:PatchSet {id: $set_id})
SET s += $set_props, s.patches = written, s.status = 'complete'
WITH s, written
OPTIONAL MATCH (r:EvalRun {id: $run_id})
FOREACH (_ IN CASE WHEN r IS NULL THEN [] ELSE [1] END | MERGE (s)-[:FROM_RUN]->(r))
RETURN written
