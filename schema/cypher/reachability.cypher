// name: reachability
// purpose: The paper's reachability requirement per discipline: how many L1 concepts and L2 relations no L3 chain covers.
// param discipline: string? - one discipline (null: all)
// columns: discipline, element, total, uncovered
// mode: read
MATCH (c:Concept)
WHERE $discipline IS NULL OR c.discipline = $discipline
RETURN c.discipline AS discipline, 'concept' AS element, count(c) AS total,
       sum(CASE WHEN size([(c)<-[:HAS_STEP]-(:Chain) | 1]) = 0 THEN 1 ELSE 0 END) AS uncovered
UNION ALL
MATCH (a:Concept)-[r:RELATION]->(:Concept)
WHERE $discipline IS NULL OR r.discipline = $discipline
RETURN r.discipline AS discipline, 'relation' AS element, count(r) AS total,
       sum(CASE WHEN size([(a)<-[s:HAS_STEP]-(:Chain) WHERE s.relation_id = r.id | 1]) = 0 THEN 1 ELSE 0 END) AS uncovered
