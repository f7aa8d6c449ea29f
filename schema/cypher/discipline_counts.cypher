// name: discipline_counts
// purpose: Element counts per discipline: documents, chunks, concepts (L1), relations (L2), chains (L3).
// param discipline: string? - one discipline (null: all)
// columns: discipline, element, count
// mode: read
MATCH (n:Document) WHERE $discipline IS NULL OR n.discipline = $discipline
RETURN n.discipline AS discipline, 'documents' AS element, count(n) AS count
UNION ALL
MATCH (n:Chunk) WHERE $discipline IS NULL OR n.discipline = $discipline
RETURN n.discipline AS discipline, 'chunks' AS element, count(n) AS count
UNION ALL
MATCH (n:Concept) WHERE $discipline IS NULL OR n.discipline = $discipline
RETURN n.discipline AS discipline, 'concepts' AS element, count(n) AS count
UNION ALL
MATCH ()-[r:RELATION]->() WHERE $discipline IS NULL OR r.discipline = $discipline
RETURN r.discipline AS discipline, 'relations' AS element, count(r) AS count
UNION ALL
MATCH (n:Chain) WHERE $discipline IS NULL OR n.discipline = $discipline
RETURN n.discipline AS discipline, 'chains' AS element, count(n) AS count
