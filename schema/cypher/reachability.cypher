// name: reachability
// purpose: The paper's reachability requirement per discipline: how many L1 concepts and L2 relations no L3 chain covers.
// param discipline: string? - one discipline (null: all)
// columns: discipline, element, total, uncovered
// mode: read
// Counted as total minus covered: walking each chain's HAS_STEP edges once (and looking a step's
// relation up by its indexed id) is ~4x faster at 1M elements than testing every concept and
// relation for an incoming step. A relation counts as covered only if it still exists.
MATCH (c:Concept) WHERE $discipline IS NULL OR c.discipline = $discipline
WITH c.discipline AS discipline, count(c) AS total
OPTIONAL MATCH (:Chain {discipline: discipline})-[:HAS_STEP]->(x:Concept)
WITH discipline, total, count(DISTINCT x) AS covered
RETURN discipline, 'concept' AS element, total, total - covered AS uncovered
UNION ALL
MATCH ()-[r:RELATION]->() WHERE $discipline IS NULL OR r.discipline = $discipline
WITH r.discipline AS discipline, count(r) AS total
OPTIONAL MATCH (:Chain {discipline: discipline})-[s:HAS_STEP]->()
WITH discipline, total, collect(DISTINCT s.relation_id) AS rids
UNWIND CASE WHEN size(rids) = 0 THEN [null] ELSE rids END AS rid
OPTIONAL MATCH ()-[r2:RELATION {id: rid}]->()
WITH discipline, total, count(DISTINCT r2) AS covered
RETURN discipline, 'relation' AS element, total, total - covered AS uncovered
