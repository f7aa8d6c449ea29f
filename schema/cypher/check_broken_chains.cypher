// name: check_broken_chains
// purpose: Chains with a step whose relation edge no longer exists, per discipline (run only when check_step_relations found missing ids).
// param discipline: string? - one discipline (null: all)
// columns: discipline, count
// mode: read
MATCH (ch:Chain)-[s:HAS_STEP]->()
WHERE ($discipline IS NULL OR ch.discipline = $discipline) AND s.relation_id IS NOT NULL
OPTIONAL MATCH ()-[r:RELATION {id: s.relation_id}]->()
WITH ch, r WHERE r IS NULL
WITH DISTINCT ch
RETURN ch.discipline AS discipline, count(ch) AS count
