// name: concept_embedding_keys
// purpose: The active (not merged) concepts of one discipline with the key of their stored name embedding (null when none is stored): what entity resolution must embed before its nearest-neighbour lookup.
// param discipline: string - the discipline
// columns: id, name, embedding_key
// mode: read
MATCH (c:Concept)
WHERE c.discipline = $discipline AND c.merged_into IS NULL
RETURN c.id AS id, c.name AS name, c.embedding_key AS embedding_key
ORDER BY id
