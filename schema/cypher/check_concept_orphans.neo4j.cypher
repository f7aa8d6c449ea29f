// name: check_concept_orphans
// purpose: Per discipline, concepts with no L2 relation (isolated) and concepts on no L3 chain (uncovered), from the degree store.
// param discipline: string? - one discipline (null: all)
// columns: discipline, kind, count
// mode: read
// Neo4j keeps per-type degrees with each node, so COUNT { } subqueries read them without a scan.
MATCH (c:Concept) WHERE $discipline IS NULL OR c.discipline = $discipline
WITH c.discipline AS discipline,
     count(CASE WHEN COUNT { (c)-[:RELATION]-() } = 0 THEN 1 END) AS isolated,
     count(CASE WHEN COUNT { (c)<-[:HAS_STEP]-() } = 0 THEN 1 END) AS uncovered
UNWIND [['isolated_concept', isolated], ['uncovered_concept', uncovered]] AS kc
RETURN discipline, kc[0] AS kind, kc[1] AS count
