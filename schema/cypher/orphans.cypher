// name: orphans
// purpose: Structural orphans: isolated concepts (no relation at all), chains whose steps or edges are missing, chunks without a document.
// param discipline: string? - one discipline (null: all)
// param limit: int = 100 - most rows per kind
// columns: kind, id, discipline, detail
// mode: read
MATCH (c:Concept)
WHERE ($discipline IS NULL OR c.discipline = $discipline) AND NOT (c)-[:RELATION]-()
RETURN 'isolated_concept' AS kind, c.id AS id, c.discipline AS discipline, c.name AS detail
LIMIT $limit
UNION ALL
MATCH (ch:Chain)-[s:HAS_STEP]->(c:Concept)
WHERE ($discipline IS NULL OR ch.discipline = $discipline) AND s.relation_id IS NOT NULL
OPTIONAL MATCH (c)-[r:RELATION {id: s.relation_id}]->()
WITH ch, s, r WHERE r IS NULL
RETURN 'broken_chain' AS kind, ch.id AS id, ch.discipline AS discipline, 'missing edge at step ' + toString(min(s.pos)) AS detail
LIMIT $limit
UNION ALL
MATCH (k:Chunk)
WHERE ($discipline IS NULL OR k.discipline = $discipline) AND NOT (k)<-[:HAS_CHUNK]-(:Document)
RETURN 'chunk_without_document' AS kind, k.id AS id, k.discipline AS discipline, k.document_id AS detail
LIMIT $limit
