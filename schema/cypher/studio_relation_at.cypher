// name: studio_relation_at
// purpose: One L2 relation by id, found by expanding from one of its two concepts (an index seek on Concept.id, then that concept's edges, each direction matched on its own because an undirected match filtered on the edge id misses edges on FalkorDB): the fast path of studio_relation when the page linking to it knows an end of the edge.
// param id: string - the relation id
// param concept: string - the id of its subject or its object
// columns: id, type, discipline, subject_id, subject_name, object_id, object_name, evidence, chunk_id, extractor, stale
// mode: read
MATCH (s:Concept {id: $concept})-[r:RELATION]->(o:Concept)
WHERE r.id = $id
RETURN r.id AS id, r.type AS type, r.discipline AS discipline, s.id AS subject_id, s.name AS subject_name,
       o.id AS object_id, o.name AS object_name, r.evidence AS evidence, r.chunk_id AS chunk_id,
       r.extractor AS extractor, coalesce(r.stale, false) AS stale
UNION
MATCH (s:Concept)-[r:RELATION]->(o:Concept {id: $concept})
WHERE r.id = $id
RETURN r.id AS id, r.type AS type, r.discipline AS discipline, s.id AS subject_id, s.name AS subject_name,
       o.id AS object_id, o.name AS object_name, r.evidence AS evidence, r.chunk_id AS chunk_id,
       r.extractor AS extractor, coalesce(r.stale, false) AS stale
