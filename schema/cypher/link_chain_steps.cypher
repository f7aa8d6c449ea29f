// name: link_chain_steps
// purpose: Link a chain to the concept at each position; relation_id is the edge leaving that step (null on the last).
// param rows: list - maps {chain_id, pos, concept_id, relation_id}
// columns: written
// mode: write
UNWIND $rows AS row
MATCH (ch:Chain {id: row.chain_id})
MATCH (c:Concept {id: row.concept_id})
MERGE (ch)-[s:HAS_STEP {pos: row.pos}]->(c)
SET s.relation_id = row.relation_id
RETURN count(s) AS written
