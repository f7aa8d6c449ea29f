// name: bulk_positions_held
// purpose: How many of the given (position, element id) pairs still hold: the node at that position is the element. A bulk pass adding to a graph other clients may write checks the ends of each edge call under WATCH before the call: a node deleted meanwhile frees its place for another node, and an edge sent to that place would join the wrong one.
// param pairs: list - [position, element id] pairs, each once
// columns: held
// mode: read
// The position is projected before the MATCH: on a list element FalkorDB 4.16 scans every node per row
// instead of seeking by id.
UNWIND $pairs AS pair
WITH pair[0] AS position, pair[1] AS eid
MATCH (n) WHERE id(n) = position AND n.id = eid
RETURN count(n) AS held
