// name: bench_peers
// purpose: NEARMISS candidates of kind peer: concepts that play the answer's role elsewhere in the answer's own document, i.e. the objects of other relations of the last step's type whose evidence comes from a chunk of the document that states the last step. They are answers to the same kind of question about the same text, so a reader who knows roughly where the answer lies has to tell them apart; none may be on the chain, merged away, in another discipline, or linked to the start concept by any relation (the graph already says something about start and that concept, so it may well be a right answer). via: the relation whose object it is; about: the names of the subjects of every such relation (the Tester refuses a peer whose statement shares a word with the start or the answer: it may be about the same thing). At most $limit per chain, the first by concept id (the build then orders them by a seeded hash).
// param rows: list - maps {chain_id, discipline, start_id, relation_id, type, concept_ids}; relation_id: the chain's last step; type: its relation type; concept_ids: the chain's concepts c0..cn
// param limit: int = 5 - most candidates per chain
// columns: chain_id, concept_id, name, aliases, via, about
// mode: read
// The document is found through the last step's chunk (RELATION.chunk_id and Chunk.document_id are indexed),
// and the document's relations through the chunk_id index of RELATION edges: no label on the edges' ends
// and the filters on them after a WITH, or FalkorDB 4.16 scans every node per row instead of seeking the
// edge index.
UNWIND $rows AS row
MATCH ()-[last:RELATION {id: row.relation_id}]->()
WITH row, last.chunk_id AS chunk_ref
MATCH (k:Chunk {id: chunk_ref})
WITH row, k.document_id AS document_ref
MATCH (sibling:Chunk {document_id: document_ref})
WITH row, sibling.id AS sibling_ref
MATCH (x)-[p:RELATION {chunk_id: sibling_ref}]->(z)
WITH row, p, x, z
WHERE p.type = row.type AND coalesce(p.stale, false) = false AND z.discipline = row.discipline
  AND z.merged_into IS NULL AND NOT z.id IN row.concept_ids
WITH row, z, min(p.id) AS via, collect(DISTINCT x.name) AS about
MATCH (s:Concept {id: row.start_id})
WHERE NOT (s)-[:RELATION]-(z)
// in id order before the cut: the order of an aggregation's groups depends on the other rows of the batch,
// and a chain must get the same peers whichever chains it is read with
WITH row, z, via, about ORDER BY z.id
WITH row, collect([z.id, z.name, coalesce(z.aliases, []), [via], about])[0..$limit] AS found
UNWIND found AS f
RETURN row.chain_id AS chain_id, f[0] AS concept_id, f[1] AS name, f[2] AS aliases, f[3] AS via, f[4] AS about
