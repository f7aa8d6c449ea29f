// name: merge_candidates_input
// purpose: Every concept of one discipline with its aliases, merged_into, relation degree, chain-step count and the documents that mention it: the input of entity-resolution candidate finding.
// param discipline: string - the discipline
// columns: id, name, aliases, merged_into, degree, chains, documents
// mode: read
MATCH (c:Concept)
WHERE c.discipline = $discipline
RETURN c.id AS id, c.name AS name, c.aliases AS aliases, c.merged_into AS merged_into,
       size([(c)-[:RELATION]-() | 1]) AS degree,
       size([(c)<-[:HAS_STEP]-(:Chain) | 1]) AS chains,
       [(c)-[:MENTIONED_IN]->(k:Chunk) | k.document_id] AS documents
ORDER BY id
