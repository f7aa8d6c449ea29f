// name: components
// purpose: Weakly connected components of the concept graph (L2 relations plus entity-resolution SAME_AS links) per discipline: count, giant component size and share.
// param discipline: string? - one discipline (null: all)
// param projection: string = "proda_concepts" - a GDS projection of (:Concept)-[:RELATION|SAME_AS]-(:Concept), made by the adapter
// columns: discipline, components, giant, concepts, giant_share
// mode: read
CALL gds.wcc.stream($projection) YIELD nodeId, componentId
WITH gds.util.asNode(nodeId) AS node, componentId
WITH node.discipline AS discipline, componentId, count(*) AS size
WHERE $discipline IS NULL OR discipline = $discipline
WITH discipline, count(*) AS components, max(size) AS giant, toInteger(sum(size)) AS concepts
RETURN discipline, components, giant, concepts, toFloat(giant) / concepts AS giant_share
ORDER BY discipline
