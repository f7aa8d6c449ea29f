// name: concept_embedding_index
// purpose: The vector index on Concept.embedding, if there is one: its dimension and whether it answers queries yet (entity resolution by embeddings creates it on first use). Runs as a write so that a Neo4j cluster asks its leader, where the index is created and comes online.
// columns: dimension, online
// mode: write
CALL db.indexes() YIELD label, types, options, status
WHERE label = 'Concept' AND 'VECTOR' IN coalesce(types['embedding'], [])
RETURN options['embedding']['dimension'] AS dimension, status = 'OPERATIONAL' AS online
