// name: set_concept_embeddings
// purpose: Store concepts' name embeddings (float32 vectors, so the vector index holds them) with the key that says which model embedded which name.
// param rows: list - maps {id, embedding, embedding_key}; embedding: a list of 384 floats
// columns: written
// mode: write
UNWIND $rows AS row
MATCH (c:Concept {id: row.id})
SET c.embedding = vecf32(row.embedding), c.embedding_key = row.embedding_key
RETURN count(c) AS written
