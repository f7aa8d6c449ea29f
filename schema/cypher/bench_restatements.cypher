// name: bench_restatements
// purpose: For each concept, the concepts that a restating relation (a definition: both ends denote one thing) links to it in either direction, by canonical id. A chain's answer and what restates it name one thing, so the Tester never offers one as a wrong answer where the other is right.
// param ids: list - concept ids (a chain's own ids and their canonical ones: a merge leaves the edges on the merged node)
// param types: list - the restating relation types, e.g. ["defined_as"]
// columns: concept_id, restated_ids
// mode: read
UNWIND $ids AS cid
MATCH (c:Concept {id: cid})-[r:RELATION]-(z)
WHERE r.type IN $types
RETURN cid AS concept_id, collect(DISTINCT coalesce(z.merged_into, z.id)) AS restated_ids
