// name: concept_step
// purpose: One breadth-first step over L2 RELATION edges: the neighbours of a set of concepts, optionally by relation type and direction, with each edge (GetNeighbors expands up to three steps with it).
// param ids: list - the concept ids to step from
// param types: list? - only these relation types (null: every type)
// param direction: string = "both" - out (subject -> object), in, or both
// param limit: int = 1000 - most rows returned
// columns: from_id, direction, relation_id, type, subject_id, object_id, evidence, chunk_id, neighbour_id, neighbour_name, neighbour_discipline
// mode: read
UNWIND $ids AS from_id
MATCH (c:Concept {id: from_id})-[r:RELATION]-(n:Concept)
WHERE $types IS NULL OR r.type IN $types
WITH from_id, c, r, n, CASE WHEN startNode(r) = c THEN 'out' ELSE 'in' END AS direction
WHERE $direction = 'both' OR direction = $direction
RETURN from_id, direction, r.id AS relation_id, r.type AS type, startNode(r).id AS subject_id,
       endNode(r).id AS object_id, r.evidence AS evidence, r.chunk_id AS chunk_id,
       n.id AS neighbour_id, n.name AS neighbour_name, n.discipline AS neighbour_discipline
ORDER BY from_id, type, neighbour_id, relation_id
LIMIT $limit
