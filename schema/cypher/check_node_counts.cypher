// name: check_node_counts
// purpose: Node counts per discipline for the structural check: documents, chunks, concepts (L1) and chains (L3); relations come from check_relations.
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
MATCH (n:Chain) WHERE $discipline IS NULL OR n.discipline = $discipline
RETURN n.discipline AS discipline, 'chains' AS element, count(n) AS count
