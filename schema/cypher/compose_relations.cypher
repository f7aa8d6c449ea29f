// name: compose_relations
// purpose: One page of a discipline's L2 relations for chain composition, by subject concept (keyset paging on the concept id): each relation with its endpoints, their merged_into, its chunk's document, section and position, and its evidence. Stale relations and relations whose chunk is gone come back with a null relation_id / document_id; subject_id is always set so the caller can page on.
// param discipline: string - the discipline
// param after: string? - the last subject_id of the previous page (null: first page)
// param limit: int = 5000 - subject concepts per page
// columns: subject_id, subject_merged_into, subject_name, relation_id, type, object_id, object_merged_into, object_name, chunk_id, document_id, section, ordinal, evidence
// mode: read
// Paged by subject concept, not by relation: Concept.discipline and Concept.id are indexed, and a
// page always holds every relation leaving its concepts. The chunk is found by its indexed id after
// projecting the reference (FalkorDB cannot seek on a property of an optional match).
MATCH (s:Concept)
WHERE s.discipline = $discipline AND ($after IS NULL OR s.id > $after)
WITH s ORDER BY s.id LIMIT $limit
OPTIONAL MATCH (s)-[r:RELATION]->(o:Concept)
WHERE coalesce(r.stale, false) = false
WITH s, r, o, r.chunk_id AS chunk_ref
OPTIONAL MATCH (k:Chunk {id: chunk_ref})
RETURN s.id AS subject_id, s.merged_into AS subject_merged_into, s.name AS subject_name, r.id AS relation_id,
       r.type AS type, o.id AS object_id, o.merged_into AS object_merged_into, o.name AS object_name,
       chunk_ref AS chunk_id, k.document_id AS document_id,
       coalesce(k.section, '') AS section, k.ordinal AS ordinal, r.evidence AS evidence
ORDER BY subject_id, relation_id
