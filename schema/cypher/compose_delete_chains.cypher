// name: compose_delete_chains
// purpose: Delete composed L3 chains (origin = composed) that no longer apply, with their HAS_STEP and FROM_CHUNK edges; a chain that something refers to (a benchmark item TESTS it, a patch came FROM_CHAIN it) is kept. Extracted chains are never touched.
// param ids: list - chain ids
// columns: deleted
// mode: write
UNWIND $ids AS cid
MATCH (ch:Chain {id: cid})
WHERE ch.origin = 'composed'
OPTIONAL MATCH (ch)<-[x]-()
WITH ch, count(x) AS refs
WHERE refs = 0
DETACH DELETE ch
RETURN count(*) AS deleted
