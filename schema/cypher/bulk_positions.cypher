// name: bulk_positions
// purpose: The position (internal node id) of each node, by label, whose element id is given. A bulk pass that adds to a graph holding nodes asks it first, to be sure none of its nodes exists yet, and again in the same transaction as each GRAPH.BULK call: the server may reuse the places of deleted nodes, so the positions its edges name are read back, not counted.
// param documents: list = [] - Document ids
// param chunks: list = [] - Chunk ids
// param concepts: list = [] - Concept ids
// param chains: list = [] - Chain ids
// columns: id, position
// mode: read
UNWIND $documents AS eid MATCH (n:Document {id: eid}) RETURN eid AS id, id(n) AS position
UNION ALL
UNWIND $chunks AS eid MATCH (n:Chunk {id: eid}) RETURN eid AS id, id(n) AS position
UNION ALL
UNWIND $concepts AS eid MATCH (n:Concept {id: eid}) RETURN eid AS id, id(n) AS position
UNION ALL
UNWIND $chains AS eid MATCH (n:Chain {id: eid}) RETURN eid AS id, id(n) AS position
