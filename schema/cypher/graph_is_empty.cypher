// name: graph_is_empty
// purpose: Whether the graph holds no node at all (a first load may then create it in one bulk pass).
// columns: empty
// mode: read
OPTIONAL MATCH (n)
WITH n LIMIT 1
RETURN n IS NULL AS empty
