// name: check_step_relations
// purpose: Relation reachability from the chain steps: each distinct relation id the steps name is resolved once through the RELATION id index; counts the covered relations per discipline and the ids that no longer resolve (broken steps).
// param discipline: string? - one discipline (null: all)
// columns: discipline, covered, missing
// mode: read
// One index seek per distinct id instead of per step, and no second pass for broken chains: when
// nothing is missing (the usual case) there are none; check_broken_chains runs only otherwise.
MATCH (ch:Chain)-[s:HAS_STEP]->()
WHERE ($discipline IS NULL OR ch.discipline = $discipline) AND s.relation_id IS NOT NULL
WITH DISTINCT ch.discipline AS discipline, s.relation_id AS rid
OPTIONAL MATCH ()-[r:RELATION {id: rid}]->()
RETURN discipline, count(r) AS covered, count(CASE WHEN r IS NULL THEN 1 END) AS missing
