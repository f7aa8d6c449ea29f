// name: concept_id_page
// purpose: One page of concept ids in storage order (a skip into the label scan, no sort), for drawing sample ids from a large graph without reading it all.
// param skip: int = 0 - rows skipped first
// param limit: int = 1000 - most rows returned
// columns: id
// mode: read
MATCH (n:Concept)
RETURN n.id AS id
SKIP $skip LIMIT $limit
