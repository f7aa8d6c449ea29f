// name: debug_weak_relations
// purpose: The L2 relations a concept-gap diagnosis names, with their concepts' names and the chunk text they were extracted from (the material f_refine grounds its knowledge-reinforcement examples in); a relation deleted since is simply absent.
// param ids: list - relation ids
// columns: id, type, subject_id, subject, object_id, object_canonical_id, object, evidence, chunk_id, chunk_text, title
// mode: read
UNWIND $ids AS rid
// no labels on a and b: FalkorDB then seeks the RELATION id index instead of scanning concepts
MATCH (a)-[r:RELATION {id: rid}]->(b)
WHERE r.stale IS NULL
OPTIONAL MATCH (k:Chunk {id: r.chunk_id})<-[:HAS_CHUNK]-(d:Document)
RETURN r.id AS id, r.type AS type, a.id AS subject_id, a.name AS subject, b.id AS object_id,
       coalesce(b.merged_into, b.id) AS object_canonical_id, b.name AS object,
       r.evidence AS evidence, r.chunk_id AS chunk_id, k.text AS chunk_text, d.title AS title
ORDER BY id
