// name: bench_trunc
// purpose: TRUNC distractor candidates: for each chain c0 -> ... -> cn, the intermediate concepts c1..c(n-1) where a reasoner that stopped after k < n steps would land, with the relation ids of the k steps taken. A one-step chain has none.
// param chain_ids: list - chain ids
// columns: chain_id, steps, concept_id, name, canonical_id, aliases, via
// mode: read
UNWIND $chain_ids AS cid
MATCH (ch:Chain {id: cid})-[s:HAS_STEP]->(c:Concept)
WHERE s.pos > 0 AND s.pos < size(ch.relation_ids)
RETURN ch.id AS chain_id, s.pos AS steps, c.id AS concept_id, c.name AS name,
       coalesce(c.merged_into, c.id) AS canonical_id, coalesce(c.aliases, []) AS aliases,
       ch.relation_ids[0..s.pos] AS via
