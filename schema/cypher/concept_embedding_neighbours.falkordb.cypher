// name: concept_embedding_neighbours
// purpose: Nearest neighbours by name embedding (the Concept.embedding vector index) of a batch of concepts, in one round trip: active concepts of the same discipline whose cosine similarity reaches min_cosine. The index spans every discipline, so k should leave room for neighbours filtered out.
// param ids: list - the concept ids to look up
// param k: int = 20 - neighbours asked of the index per concept, before filtering
// param min_cosine: float = 0.0 - lowest cosine similarity returned
// columns: id, neighbour_id, cosine
// mode: read
UNWIND $ids AS id
MATCH (c:Concept {id: id})
WHERE c.embedding IS NOT NULL
CALL db.idx.vector.queryNodes('Concept', 'embedding', $k, c.embedding) YIELD node, score
// FalkorDB's score is the cosine distance
WITH c, node, 1.0 - score AS cosine
WHERE node.discipline = c.discipline AND node.id <> c.id AND node.merged_into IS NULL AND cosine >= $min_cosine
RETURN c.id AS id, node.id AS neighbour_id, cosine
