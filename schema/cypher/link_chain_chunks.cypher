// name: link_chain_chunks
// purpose: Link chains to the chunk they were extracted from (provenance).
// param rows: list - maps {chain_id, chunk_id}
// columns: written
// mode: write
UNWIND $rows AS row
MATCH (ch:Chain {id: row.chain_id})
MATCH (k:Chunk {id: row.chunk_id})
MERGE (ch)-[f:FROM_CHUNK]->(k)
RETURN count(f) AS written
