// name: bulk_edges_present
// purpose: How many of the given (source position, destination position) pairs are joined already by an edge of the given type. A bulk pass adding to a graph sends an edge call only where none is: another client that upserted the same elements meanwhile has made those edges, and the call would make them twice.
// param type: string - relationship type of the call (RELATION, HAS_CHUNK, MENTIONED_IN, HAS_STEP, FROM_CHUNK)
// param ends: list - [source position, destination position] pairs, each once
// columns: present
// mode: read
// Positions are projected before the MATCH, so that FalkorDB 4.16 seeks the source by id and expands from
// it (the pass's nodes are new: few edges each) instead of scanning.
UNWIND $ends AS pair
WITH pair[0] AS source, pair[1] AS target
MATCH (a) WHERE id(a) = source
MATCH (a)-[e]->(b)
WHERE id(b) = target AND type(e) = $type
RETURN count(e) AS present
