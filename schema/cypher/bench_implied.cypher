// name: bench_implied
// purpose: For each row (a chain's answer and the relation types its last step carries over), the concepts reached from the answer through 1 to 3 RELATION edges of those types, by canonical id. "a is a kind of b" and "b is a kind of c" make c a right answer too, so the Tester never offers such a concept as a wrong one.
// param rows: list - maps {key, ids, types, hops}; ids: the answer's id and canonical id (a merge leaves the edges on the merged node); types: the relation types the last step carries over, e.g. ["is_a"]; hops: the longest path followed, 1 to 3 (the Tester also sends the step before the answer with the types a reader may take for the last one, one hop: "prevents" for "decreases")
// columns: key, implied_id
// mode: read
// One branch per path length, each hop filtered on its type as it expands (as bench_reach does): a
// variable-length pattern would expand every edge type first and filter the whole paths afterwards. A row
// leaves the longer branches before they expand anything.
UNWIND $rows AS row
UNWIND row.ids AS aid
MATCH (a:Concept {id: aid})-[r1:RELATION]->(z:Concept)
WHERE r1.type IN row.types
RETURN row.key AS key, coalesce(z.merged_into, z.id) AS implied_id
UNION
UNWIND $rows AS row
WITH row WHERE row.hops >= 2
UNWIND row.ids AS aid
MATCH (a:Concept {id: aid})-[r1:RELATION]->(:Concept)-[r2:RELATION]->(z:Concept)
WHERE r1.type IN row.types AND r2.type IN row.types
RETURN row.key AS key, coalesce(z.merged_into, z.id) AS implied_id
UNION
UNWIND $rows AS row
WITH row WHERE row.hops >= 3
UNWIND row.ids AS aid
MATCH (a:Concept {id: aid})-[r1:RELATION]->(:Concept)-[r2:RELATION]->(:Concept)-[r3:RELATION]->(z:Concept)
WHERE r1.type IN row.types AND r2.type IN row.types AND r3.type IN row.types
RETURN row.key AS key, coalesce(z.merged_into, z.id) AS implied_id
