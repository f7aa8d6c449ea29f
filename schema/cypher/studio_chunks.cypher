// name: studio_chunks
// purpose: One page of a document's chunks in order, with the extractor key each was extracted with (null: pending), how many chains were extracted from it, how many of those are stale, and how much of its extraction was quarantined.
// param id: string - the document id
// param skip: int = 0 - rows skipped first
// param limit: int = 50 - page size
// columns: id, ordinal, n_tokens, extracted_with, chains, stale_chains, quarantined, preview
// mode: read
MATCH (:Document {id: $id})-[:HAS_CHUNK]->(k:Chunk)
WITH k ORDER BY k.ordinal SKIP $skip LIMIT $limit
RETURN k.id AS id, k.ordinal AS ordinal, k.n_tokens AS n_tokens, k.extracted_with AS extracted_with,
       size([(ch:Chain)-[:FROM_CHUNK]->(k) | 1]) AS chains,
       size([(ch:Chain)-[:FROM_CHUNK]->(k) WHERE ch.stale = true | 1]) AS stale_chains,
       size([(q:Quarantine)-[:FROM_CHUNK]->(k) | 1]) AS quarantined,
       substring(k.text, 0, 240) AS preview
ORDER BY ordinal
