// name: bench_chain_steps
// purpose: Many chains as they stand in the graph now, position by position: the concept (its canonical id and aliases) and the RELATION edge leaving it; concept_found false or a null relation_type on a step before the last means the chain lost that element since extraction.
// param chain_ids: list - chain ids
// columns: chain_id, discipline, split, pos, concept_id, concept_found, name, canonical_id, aliases, relation_id, relation_type, evidence
// mode: read
UNWIND $chain_ids AS cid
MATCH (ch:Chain {id: cid})
UNWIND range(0, size(ch.concept_ids) - 1) AS pos
// project the ids first: FalkorDB's index seek cannot read a list element or an optional match's property
WITH ch, pos, ch.concept_ids[pos] AS concept_ref,
     CASE WHEN pos < size(ch.relation_ids) THEN ch.relation_ids[pos] END AS relation_ref,
     CASE WHEN pos < size(ch.relation_ids) THEN ch.concept_ids[pos + 1] END AS next_ref
OPTIONAL MATCH (c:Concept {id: concept_ref})
// the edge is found by its own id, not expanded from c: FalkorDB 4.16 crashes (SIGSEGV) expanding an
// edge with a property filter from a node an earlier OPTIONAL MATCH left null (a deleted concept).
// No labels on a and b: with them FalkorDB scans every Concept per row instead of seeking the edge index.
OPTIONAL MATCH (a)-[r:RELATION {id: relation_ref}]->(b)
RETURN ch.id AS chain_id, ch.discipline AS discipline, ch.split AS split, pos, concept_ref AS concept_id,
       c IS NOT NULL AS concept_found, c.name AS name, coalesce(c.merged_into, c.id) AS canonical_id,
       coalesce(c.aliases, []) AS aliases, relation_ref AS relation_id,
       CASE WHEN a.id = concept_ref AND b.id = next_ref THEN r.type END AS relation_type,
       CASE WHEN a.id = concept_ref AND b.id = next_ref THEN r.evidence END AS evidence
