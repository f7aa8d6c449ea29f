// name: chain_missing_steps
// purpose: For candidate chains, the steps whose relation edge does not exist between the step's concepts (such a chain must not be written).
// param rows: list - maps {id, concept_ids, relation_ids}
// columns: chain_id, missing_steps
// mode: read
// Each step's edge is found by its id through the RELATION id index, then its ends compared: a
// relation id names one edge (upsert_relations MERGEs by id between the ends the id is derived from),
// and matching from the concepts instead expands every edge of the step's first concept, which costs
// more the more relations it has (slower on a large graph; see graph_ingest.py's per-query times).
UNWIND $rows AS row
UNWIND range(0, size(row.relation_ids) - 1) AS i
OPTIONAL MATCH ()-[r:RELATION {id: row.relation_ids[i]}]->()
WITH row, i, r
WHERE r IS NULL OR startNode(r).id <> row.concept_ids[i] OR endNode(r).id <> row.concept_ids[i + 1]
RETURN row.id AS chain_id, collect(i) AS missing_steps
