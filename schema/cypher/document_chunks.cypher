// name: document_chunks
// purpose: The chunks of each given document in order, with their content hashes and token estimates.
// param ids: list - document ids
// columns: document_id, chunk_id, ordinal, content_hash, n_tokens
// mode: read
UNWIND $ids AS id
MATCH (d:Document {id: id})-[:HAS_CHUNK]->(k:Chunk)
RETURN d.id AS document_id, k.id AS chunk_id, k.ordinal AS ordinal, k.content_hash AS content_hash,
       k.n_tokens AS n_tokens
ORDER BY document_id, ordinal
