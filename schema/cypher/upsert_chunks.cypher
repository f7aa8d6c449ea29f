// name: upsert_chunks
// purpose: Create or update Chunk nodes and link them to their Document; rows whose document is missing or whose id collides are skipped.
// param rows: list - maps {id, document_id, props}
// columns: written
// mode: write
UNWIND $rows AS row
MATCH (d:Document {id: row.document_id})
OPTIONAL MATCH (x:Chunk {id: row.id})
WITH row, d, x WHERE x IS NULL OR x.fp = row.props.fp
MERGE (c:Chunk {id: row.id})
SET c += row.props
MERGE (d)-[:HAS_CHUNK]->(c)
RETURN count(c) AS written
