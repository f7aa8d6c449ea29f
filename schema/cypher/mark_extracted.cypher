// name: mark_extracted
// purpose: Record that chunks were extracted with an extractor key (written after their elements, so a crash in between only repeats idempotent work).
// param rows: list - maps {chunk_id, key}
// columns: written
// mode: write
UNWIND $rows AS row
MATCH (k:Chunk {id: row.chunk_id})
SET k.extracted_with = row.key
RETURN count(k) AS written
