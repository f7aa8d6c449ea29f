// name: graph_totals
// purpose: Whole-graph totals of concepts (L1) and chains (L3), cheap label counts for scripts that only need to know whether (and how much) a graph is loaded.
// columns: concepts, chains
// mode: read
OPTIONAL MATCH (c:Concept)
WITH count(c) AS concepts
OPTIONAL MATCH (h:Chain)
RETURN concepts, count(h) AS chains
