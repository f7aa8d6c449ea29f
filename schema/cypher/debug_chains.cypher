// name: debug_chains
// purpose: Every L3 chain of a discipline with its split, relation ids and types and concept ids: f_cot scaffolds only the train chains among them (never test, dev or unsplit ones) and uses the held-out ones to refuse a train chain that walks a whole multi-step benchmark chain.
// param discipline: string - the discipline
// columns: id, split, relation_ids, relation_types, concept_ids
// mode: read
MATCH (ch:Chain {discipline: $discipline})
RETURN ch.id AS id, ch.split AS split, ch.relation_ids AS relation_ids,
       coalesce(ch.relation_types, []) AS relation_types, ch.concept_ids AS concept_ids
ORDER BY id
