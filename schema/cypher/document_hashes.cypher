// name: document_hashes
// purpose: The stored content hash of each given document that exists; ingest compares it with the new text's hash to tell new, unchanged and changed documents apart (an empty hash marks an interrupted ingest).
// param ids: list - document ids
// columns: id, content_hash
// mode: read
UNWIND $ids AS id
MATCH (d:Document {id: id})
RETURN d.id AS id, d.content_hash AS content_hash
