// name: studio_relation
// purpose: One L2 relation by id (an index seek on RELATION.id) with its two concepts, its evidence span, its chunk and provenance: the evidence view of the Studio.
// param id: string - the relation id
// columns: id, type, discipline, subject_id, subject_name, object_id, object_name, evidence, chunk_id, extractor, stale
// mode: read
// Unlabelled ends: FalkorDB then seeks the RELATION id index; labelled ends make it scan every Concept
// first (3 s against 1 ms on 200k concepts). RELATION edges only ever join concepts.
MATCH (s)-[r:RELATION {id: $id}]->(o)
RETURN r.id AS id, r.type AS type, r.discipline AS discipline, s.id AS subject_id, s.name AS subject_name,
       o.id AS object_id, o.name AS object_name, r.evidence AS evidence, r.chunk_id AS chunk_id,
       r.extractor AS extractor, coalesce(r.stale, false) AS stale
