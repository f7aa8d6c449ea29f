// name: link_mentions
// purpose: Link concepts to the chunks they were harvested from (provenance).
// param rows: list - maps {concept_id, chunk_id}
// columns: written
// mode: write
UNWIND $rows AS row
MATCH (c:Concept {id: row.concept_id})
MATCH (k:Chunk {id: row.chunk_id})
MERGE (c)-[m:MENTIONED_IN]->(k)
RETURN count(m) AS written
