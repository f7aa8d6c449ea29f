// name: concept_neighbours
// purpose: L2 neighbours of a concept over RELATION edges in both directions, with the evidence of each edge.
// param id: string - the concept id
// param type: string? - only this relation type (null: all)
// param limit: int = 100 - most rows returned
// columns: direction, type, neighbour_id, neighbour_name, relation_id, evidence
// mode: read
MATCH (c:Concept {id: $id})-[r:RELATION]-(n:Concept)
WHERE $type IS NULL OR r.type = $type
RETURN CASE WHEN startNode(r) = c THEN 'out' ELSE 'in' END AS direction,
       r.type AS type, n.id AS neighbour_id, n.name AS neighbour_name,
       r.id AS relation_id, r.evidence AS evidence
ORDER BY type, neighbour_name
LIMIT $limit
