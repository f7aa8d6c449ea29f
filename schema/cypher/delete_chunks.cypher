// name: delete_chunks
// purpose: Delete chunks of a document together with every edge that touches them (HAS_CHUNK, MENTIONED_IN, FROM_CHUNK); a row naming a chunk that is not the document's is ignored. Run mark_stale_from_chunks first.
// param rows: list - maps {document_id, chunk_id}
// columns: deleted
// mode: write
UNWIND $rows AS row
MATCH (:Document {id: row.document_id})-[:HAS_CHUNK]->(k:Chunk {id: row.chunk_id})
DETACH DELETE k
RETURN count(*) AS deleted
