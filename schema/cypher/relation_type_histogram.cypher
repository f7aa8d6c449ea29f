// name: relation_type_histogram
// purpose: How many L2 relations of each type per discipline.
// param discipline: string? - one discipline (null: all)
// columns: discipline, type, relations
// mode: read
MATCH ()-[r:RELATION]->()
WHERE $discipline IS NULL OR r.discipline = $discipline
RETURN r.discipline AS discipline, r.type AS type, count(r) AS relations
ORDER BY discipline, relations DESC, type
