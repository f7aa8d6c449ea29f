// name: concept
// purpose: One L1 concept with its degree, chain count and source chunks.
// param id: string - the concept id
// columns: id, name, discipline, aliases, description, out_degree, in_degree, chains, chunk_ids
// mode: read
// FalkorDB reads a node's degree per relationship type from its adjacency (indegree/outdegree)
// instead of expanding a pattern per count: about 100 us less per call on the GetConcept hot path.
// Only chains have HAS_STEP edges, so its in-degree is the pattern count of the neo4j variant, and
// MENTIONED_IN edges only end at chunks (link_mentions, the bulk loader), so no label test on k.
MATCH (c:Concept {id: $id})
RETURN c.id AS id, c.name AS name, c.discipline AS discipline, c.aliases AS aliases,
       c.description AS description,
       outdegree(c, 'RELATION') AS out_degree,
       indegree(c, 'RELATION') AS in_degree,
       indegree(c, 'HAS_STEP') AS chains,
       [(c)-[:MENTIONED_IN]->(k) | k.id] AS chunk_ids
