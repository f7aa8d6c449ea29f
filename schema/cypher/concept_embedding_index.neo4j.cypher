// name: concept_embedding_index
// purpose: The vector index on Concept.embedding, if there is one: its dimension and whether it answers queries yet (entity resolution by embeddings creates it on first use). Runs as a write so that a Neo4j cluster asks its leader, where the index is created and comes online.
// columns: dimension, online
// mode: write
SHOW INDEXES YIELD type, labelsOrTypes, properties, options, state
WHERE type = 'VECTOR' AND 'Concept' IN labelsOrTypes AND 'embedding' IN properties
RETURN options.indexConfig.`vector.dimensions` AS dimension, state = 'ONLINE' AS online
