// name: debug_concept_facts
// purpose: Up to per_concept live L2 relations leaving and up to per_concept entering each given concept (in relation id order), as facts for f_refine's concept summaries of weak concepts.
// param ids: list - concept ids
// param per_concept: int - most relations per concept and direction
// columns: concept_id, id, type, subject_id, subject, object_id, object, evidence
// mode: read
// The filters follow a WITH: in the MATCH, FalkorDB 4.16 plans a filter on the far concept as a label
// scan of every concept per id (2 s instead of 2 ms for 60 ids on a 33,000-concept graph).
UNWIND $ids AS cid
MATCH (a:Concept {id: cid})-[r:RELATION]->(b:Concept)
WITH cid, a, r, b WHERE r.stale IS NULL AND b.stale IS NULL
WITH cid, a, r, b ORDER BY r.id
WITH cid, collect({a: a, r: r, b: b})[..$per_concept] AS hits
UNWIND hits AS h
RETURN cid AS concept_id, h.r.id AS id, h.r.type AS type, h.a.id AS subject_id, h.a.name AS subject,
       h.b.id AS object_id, h.b.name AS object, h.r.evidence AS evidence
UNION ALL
UNWIND $ids AS cid
MATCH (a:Concept)-[r:RELATION]->(b:Concept {id: cid})
WITH cid, a, r, b WHERE r.stale IS NULL AND a.stale IS NULL
WITH cid, a, r, b ORDER BY r.id
WITH cid, collect({a: a, r: r, b: b})[..$per_concept] AS hits
UNWIND hits AS h
RETURN cid AS concept_id, h.r.id AS id, h.r.type AS type, h.a.id AS subject_id, h.a.name AS subject,
       h.b.id AS object_id, h.b.name AS object, h.r.evidence AS evidence
