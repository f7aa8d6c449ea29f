// name: chain_detail
// purpose: An L3 chain step by step: each position's concept, the RELATION edge leaving it, and that edge's chunk and document (chain -> edges -> concepts -> chunks -> documents).
// param id: string - the chain id
// columns: chain_id, discipline, split, pos, concept_id, concept_name, relation_id, relation_type, evidence, chunk_id, document_id, document_title
// mode: read
MATCH (ch:Chain {id: $id})-[s:HAS_STEP]->(c:Concept)
WITH ch, s, c
OPTIONAL MATCH (c)-[r:RELATION {id: s.relation_id}]->(:Concept)
// project the chunk id first: FalkorDB's index seek cannot read a property of an optional match
WITH ch, s, c, r, r.chunk_id AS chunk_ref
OPTIONAL MATCH (k:Chunk {id: chunk_ref})<-[:HAS_CHUNK]-(d:Document)
RETURN ch.id AS chain_id, ch.discipline AS discipline, ch.split AS split, s.pos AS pos,
       c.id AS concept_id, c.name AS concept_name, r.id AS relation_id, r.type AS relation_type,
       r.evidence AS evidence, k.id AS chunk_id, d.id AS document_id, d.title AS document_title
ORDER BY pos
