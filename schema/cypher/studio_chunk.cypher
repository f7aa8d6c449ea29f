// name: studio_chunk
// purpose: One chunk with its whole text and its document: where an evidence sentence is shown in context.
// param id: string - the chunk id
// columns: id, ordinal, discipline, text, extracted_with, document_id, document_title, source_id, license
// mode: read
MATCH (k:Chunk {id: $id})
OPTIONAL MATCH (d:Document)-[:HAS_CHUNK]->(k)
RETURN k.id AS id, k.ordinal AS ordinal, k.discipline AS discipline, k.text AS text,
       k.extracted_with AS extracted_with, d.id AS document_id, d.title AS document_title,
       d.source_id AS source_id, d.license AS license
