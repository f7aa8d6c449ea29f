// name: nodes_by_id
// purpose: Which of the given ids exist, per element kind, with their fingerprints (used to explain skipped writes).
// param ids: list - element ids
// columns: kind, id, fp
// mode: read
UNWIND $ids AS id
CALL {
  WITH id MATCH (n:Document {id: id}) RETURN 'document' AS kind, n.fp AS fp
  UNION
  WITH id MATCH (n:Chunk {id: id}) RETURN 'chunk' AS kind, n.fp AS fp
  UNION
  WITH id MATCH (n:Concept {id: id}) RETURN 'concept' AS kind, n.fp AS fp
  UNION
  WITH id MATCH (n:Chain {id: id}) RETURN 'chain' AS kind, n.fp AS fp
  UNION
  WITH id MATCH ()-[n:RELATION {id: id}]->() RETURN 'relation' AS kind, n.fp AS fp
}
RETURN kind, id, fp
