// name: chain_missing_steps
// purpose: For candidate chains, the steps whose relation edge does not exist between the step's concepts (such a chain must not be written).
// param rows: list - maps {id, concept_ids, relation_ids}
// columns: chain_id, missing_steps
// mode: read
UNWIND $rows AS row
UNWIND range(0, size(row.relation_ids) - 1) AS i
OPTIONAL MATCH (a:Concept {id: row.concept_ids[i]})-[r:RELATION {id: row.relation_ids[i]}]->(b:Concept {id: row.concept_ids[i + 1]})
WITH row, i, r WHERE r IS NULL
RETURN row.id AS chain_id, collect(i) AS missing_steps
