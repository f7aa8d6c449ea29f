// name: check_relations
// purpose: One pass over L2 relations for the structural check: counts per discipline, type and extractor (relation totals and both histograms come from it).
// param discipline: string? - one discipline (null: all)
// columns: discipline, type, extractor, model, relations
// mode: read
MATCH ()-[r:RELATION]->()
WHERE $discipline IS NULL OR r.discipline = $discipline
RETURN r.discipline AS discipline, r.type AS type, r.extractor AS extractor, r.model AS model, count(r) AS relations
