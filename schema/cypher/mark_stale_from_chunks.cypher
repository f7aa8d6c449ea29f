// name: mark_stale_from_chunks
// purpose: Set stale = true on what was extracted from chunks that are being replaced: chains linked FROM_CHUNK to one of them, RELATION edges whose chunk_id is one of them, and concepts whose MENTIONED_IN chunks are all among them (a concept also mentioned elsewhere stays fresh).
// param chunk_ids: list - ids of the outdated chunks
// columns: element, marked
// mode: write
UNWIND $chunk_ids AS cid
MATCH (ch:Chain)-[:FROM_CHUNK]->(:Chunk {id: cid})
SET ch.stale = true
RETURN 'chain' AS element, count(DISTINCT ch) AS marked
UNION ALL
UNWIND $chunk_ids AS cid
// an index on RELATION.chunk_id turns this into a seek; without one it scans the RELATION edges
MATCH ()-[r:RELATION {chunk_id: cid}]->()
SET r.stale = true
RETURN 'relation' AS element, count(DISTINCT r) AS marked
UNION ALL
UNWIND $chunk_ids AS cid
MATCH (c:Concept)-[:MENTIONED_IN]->(:Chunk {id: cid})
WITH DISTINCT c
// listed in a WITH, not in WHERE: FalkorDB cannot filter on a comprehension over outer variables
WITH c, [(c)-[:MENTIONED_IN]->(k:Chunk) | k.id] AS mentioned
WHERE all(k IN mentioned WHERE k IN $chunk_ids)
SET c.stale = true
RETURN 'concept' AS element, count(c) AS marked
