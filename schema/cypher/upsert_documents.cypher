// name: upsert_documents
// purpose: Create or update Document nodes by deterministic id; a row whose id already belongs to a different document (fingerprint differs) is skipped.
// param rows: list - maps {id, props}; props holds fp and every document property
// columns: written
// mode: write
UNWIND $rows AS row
OPTIONAL MATCH (x:Document {id: row.id})
WITH row, x WHERE x IS NULL OR x.fp = row.props.fp
MERGE (d:Document {id: row.id})
SET d += row.props
RETURN count(d) AS written
