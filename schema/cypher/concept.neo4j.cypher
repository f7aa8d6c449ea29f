// name: concept
// purpose: One L1 concept with its degree, chain count and source chunks.
// param id: string - the concept id
// columns: id, name, discipline, aliases, description, out_degree, in_degree, chains, chunk_ids
// mode: read
MATCH (c:Concept {id: $id})
RETURN c.id AS id, c.name AS name, c.discipline AS discipline, c.aliases AS aliases,
       c.description AS description,
       size([(c)-[:RELATION]->() | 1]) AS out_degree,
       size([(c)<-[:RELATION]-() | 1]) AS in_degree,
       size([(c)<-[:HAS_STEP]-(:Chain) | 1]) AS chains,
       [(c)-[:MENTIONED_IN]->(k:Chunk) | k.id] AS chunk_ids
