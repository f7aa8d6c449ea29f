// name: uncovered_relations
// purpose: L2 relations that no L3 chain uses (reachability orphans).
// param discipline: string? - one discipline (null: all)
// param limit: int = 100 - most rows returned
// columns: id, type, subject, object, discipline, evidence
// mode: read
MATCH (a:Concept)-[r:RELATION]->(b:Concept)
WHERE $discipline IS NULL OR r.discipline = $discipline
// counted in a WITH, not in WHERE: FalkorDB cannot filter on a comprehension over outer variables
WITH a, r, b, size([(a)<-[s:HAS_STEP]-(:Chain) WHERE s.relation_id = r.id | 1]) AS uses
WHERE uses = 0
RETURN r.id AS id, r.type AS type, a.name AS subject, b.name AS object, r.discipline AS discipline,
       r.evidence AS evidence
ORDER BY id
LIMIT $limit
