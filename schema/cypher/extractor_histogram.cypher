// name: extractor_histogram
// purpose: How many L2 relations each extractor produced per discipline, so rule-based (heuristic) output is always visible as such.
// param discipline: string? - one discipline (null: all)
// columns: discipline, extractor, model, relations
// mode: read
MATCH ()-[r:RELATION]->()
WHERE $discipline IS NULL OR r.discipline = $discipline
RETURN r.discipline AS discipline, r.extractor AS extractor, r.model AS model, count(r) AS relations
ORDER BY discipline, relations DESC
