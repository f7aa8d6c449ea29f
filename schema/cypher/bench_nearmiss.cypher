// name: bench_nearmiss
// purpose: NEARMISS distractor candidates, concepts structurally close to a chain's answer cn that do not satisfy the chain (same discipline, not merged away, so each is its own canonical concept). kind: sibling_chain = the answer of another chain that shares all but the last step; sibling = shares a parent with the answer by the same is_a/part_of-like relation; alt_ending = reached from c(n-1) by a relation of another type than the last step's; neighbour = linked to the answer by a relation of another type. via: the chain or relation ids it came from. At most $limit per chain and kind, the first in the graph's adjacency order (the build then orders them by a seeded hash).
// param rows: list - maps {chain_id, discipline, answer_id, prev_id, last_type, prefix_ids, length}; prefix_ids: the chain's relation ids but the last
// param up: list - relation types from a concept to its parent, e.g. ["is_a", "part_of", "example_of"]
// param down: list - relation types from a parent to its part, e.g. ["has_part"]
// param limit: int = 5 - most candidates per chain and kind
// columns: chain_id, kind, concept_id, name, aliases, via
// mode: read
UNWIND $rows AS row
MATCH (ans:Concept {id: row.answer_id})
MATCH (prev:Concept {id: row.prev_id})
// Pattern comprehensions, not CALL { ... UNION ... }: on FalkorDB 4.16 a CALL subquery per row costs about
// three times as much. Every comprehension has variables of its own: FalkorDB 4.16 returns an empty list
// for a second comprehension in the same projection that reuses a variable name in its WHERE.
// No :Concept label on the nodes reached: RELATION edges join concepts and HAS_STEP edges end at concepts
// (upsert_relations, link_chain_steps and the bulk loader make them no other way), and on FalkorDB 4.16 each
// label costs a filter on every node a comprehension expands to (GRAPH.PROFILE: about 15 % of the query's
// time at 100,000 chains). The rows come out in the same order.
WITH row,
  [(prev)<-[s1:HAS_STEP]-(o:Chain)-[e1:HAS_STEP]->(z1)
     WHERE s1.pos = row.length - 1 AND e1.pos = row.length AND size(o.relation_ids) = row.length
       AND o.id <> row.chain_id AND o.relation_ids[0..row.length - 1] = row.prefix_ids
       AND z1.discipline = row.discipline AND z1.merged_into IS NULL
     | ['sibling_chain', z1.id, z1.name, coalesce(z1.aliases, []), [o.id, o.relation_ids[row.length - 1]]]][0..$limit] +
  [(ans)-[p2:RELATION]->()<-[q2:RELATION]-(z2)
     WHERE p2.type IN $up AND q2.type = p2.type AND z2 <> ans AND z2.discipline = row.discipline
       AND z2.merged_into IS NULL
     | ['sibling', z2.id, z2.name, coalesce(z2.aliases, []), [p2.id, q2.id]]][0..$limit] +
  [(ans)<-[p3:RELATION]-(:Concept)-[q3:RELATION]->(z3)
     WHERE p3.type IN $down AND q3.type = p3.type AND z3 <> ans AND z3.discipline = row.discipline
       AND z3.merged_into IS NULL
     | ['sibling', z3.id, z3.name, coalesce(z3.aliases, []), [p3.id, q3.id]]][0..$limit] +
  [(prev)-[r4:RELATION]->(z4)
     WHERE r4.type <> row.last_type AND z4 <> ans AND z4.discipline = row.discipline AND z4.merged_into IS NULL
     | ['alt_ending', z4.id, z4.name, coalesce(z4.aliases, []), [r4.id]]][0..$limit] +
  [(ans)-[r5:RELATION]-(z5)
     WHERE r5.type <> row.last_type AND z5 <> prev AND z5 <> ans AND z5.discipline = row.discipline
       AND z5.merged_into IS NULL
     | ['neighbour', z5.id, z5.name, coalesce(z5.aliases, []), [r5.id]]][0..$limit] AS found
UNWIND found AS f
RETURN row.chain_id AS chain_id, f[0] AS kind, f[1] AS concept_id, f[2] AS name, f[3] AS aliases, f[4] AS via
