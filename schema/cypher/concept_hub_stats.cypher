// name: concept_hub_stats
// purpose: Every concept with its relation degree and the number of documents it was harvested from (its spread), plus merged_into so a merged group counts as one concept: the input of hub detection.
// param discipline: string? - one discipline (null: all)
// columns: discipline, id, name, merged_into, degree, documents
// mode: read
MATCH (c:Concept)
WHERE $discipline IS NULL OR c.discipline = $discipline
// OPTIONAL MATCH + count: a quarter of the time of size([(c)-[:RELATION]-() | 1]) on FalkorDB
OPTIONAL MATCH (c)-[r:RELATION]-()
WITH c, count(r) AS degree
OPTIONAL MATCH (c)-[:MENTIONED_IN]->(k:Chunk)
RETURN c.discipline AS discipline, c.id AS id, c.name AS name, c.merged_into AS merged_into, degree,
       count(DISTINCT k.document_id) AS documents
