// name: upsert_relations
// purpose: Create or update L2 RELATION edges between existing concepts; rows with a missing endpoint or a colliding id are skipped.
// param rows: list - maps {id, subject_id, object_id, props}
// columns: written
// mode: write
UNWIND $rows AS row
OPTIONAL MATCH ()-[x:RELATION {id: row.id}]->()
WITH row, x WHERE x IS NULL OR x.fp = row.props.fp
MATCH (s:Concept {id: row.subject_id})
MATCH (o:Concept {id: row.object_id})
MERGE (s)-[r:RELATION {id: row.id}]->(o)
SET r += row.props
RETURN count(r) AS written
