// name: bench_reach
// purpose: The proof that distractors are wrong: which of the target concepts are reached from the start concept by following exactly the given relation-type sequence (1 to 6 hops) over RELATION edges. Targets are canonical ids, so a concept merged into a target (an alias, SAME_AS) counts as the target. A valid item's answer is among the results and none of its distractors is.
// param rows: list - maps {key, start_id, types, targets}; targets: canonical concept ids to test
// columns: key, canonical_id
// mode: read
// One branch per sequence length, at the top level: a CALL { ... UNION ... } per row costs FalkorDB 4.16
// several times as much. Each branch's hops are fixed, so every hop filters on its type as it expands.
UNWIND $rows AS row
WITH row WHERE size(row.types) = 1
MATCH (a:Concept {id: row.start_id})
MATCH (a)-[r1:RELATION {type: row.types[0]}]->(z:Concept)
WITH row, coalesce(z.merged_into, z.id) AS canonical
WHERE canonical IN row.targets
RETURN DISTINCT row.key AS key, canonical AS canonical_id
UNION
UNWIND $rows AS row
WITH row WHERE size(row.types) = 2
MATCH (a:Concept {id: row.start_id})
MATCH (a)-[r1:RELATION {type: row.types[0]}]->(:Concept)-[r2:RELATION {type: row.types[1]}]->(z:Concept)
WITH row, coalesce(z.merged_into, z.id) AS canonical
WHERE canonical IN row.targets
RETURN DISTINCT row.key AS key, canonical AS canonical_id
UNION
UNWIND $rows AS row
WITH row WHERE size(row.types) = 3
MATCH (a:Concept {id: row.start_id})
MATCH (a)-[r1:RELATION {type: row.types[0]}]->(:Concept)-[r2:RELATION {type: row.types[1]}]->(:Concept)-[r3:RELATION {type: row.types[2]}]->(z:Concept)
WITH row, coalesce(z.merged_into, z.id) AS canonical
WHERE canonical IN row.targets
RETURN DISTINCT row.key AS key, canonical AS canonical_id
UNION
UNWIND $rows AS row
WITH row WHERE size(row.types) = 4
MATCH (a:Concept {id: row.start_id})
MATCH (a)-[r1:RELATION {type: row.types[0]}]->(:Concept)-[r2:RELATION {type: row.types[1]}]->(:Concept)-[r3:RELATION {type: row.types[2]}]->(:Concept)-[r4:RELATION {type: row.types[3]}]->(z:Concept)
WITH row, coalesce(z.merged_into, z.id) AS canonical
WHERE canonical IN row.targets
RETURN DISTINCT row.key AS key, canonical AS canonical_id
UNION
UNWIND $rows AS row
WITH row WHERE size(row.types) = 5
MATCH (a:Concept {id: row.start_id})
MATCH (a)-[r1:RELATION {type: row.types[0]}]->(:Concept)-[r2:RELATION {type: row.types[1]}]->(:Concept)-[r3:RELATION {type: row.types[2]}]->(:Concept)-[r4:RELATION {type: row.types[3]}]->(:Concept)-[r5:RELATION {type: row.types[4]}]->(z:Concept)
WITH row, coalesce(z.merged_into, z.id) AS canonical
WHERE canonical IN row.targets
RETURN DISTINCT row.key AS key, canonical AS canonical_id
UNION
UNWIND $rows AS row
WITH row WHERE size(row.types) = 6
MATCH (a:Concept {id: row.start_id})
MATCH (a)-[r1:RELATION {type: row.types[0]}]->(:Concept)-[r2:RELATION {type: row.types[1]}]->(:Concept)-[r3:RELATION {type: row.types[2]}]->(:Concept)-[r4:RELATION {type: row.types[3]}]->(:Concept)-[r5:RELATION {type: row.types[4]}]->(:Concept)-[r6:RELATION {type: row.types[5]}]->(z:Concept)
WITH row, coalesce(z.merged_into, z.id) AS canonical
WHERE canonical IN row.targets
RETURN DISTINCT row.key AS key, canonical AS canonical_id
