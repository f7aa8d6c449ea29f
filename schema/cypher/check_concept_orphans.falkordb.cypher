// name: check_concept_orphans
// purpose: Per discipline, concepts with no L2 relation (isolated) and concepts on no L3 chain (uncovered), from two algo.WCC runs instead of rescanning edges: a concept alone in its component has no such edge.
// param discipline: string? - one discipline (null: all)
// columns: discipline, kind, count
// mode: read
// WCC over Concept + RELATION: a singleton has no relation at all. WCC over Concept + Chain +
// HAS_STEP: a singleton concept has no incoming step (every chain has steps, so no chain is alone
// with it). Both run on the adjacency matrices in C; at 1M elements ~1 s together versus ~8 s
// for DISTINCT over every edge and step.
CALL algo.WCC({nodeLabels: ['Concept'], relationshipTypes: ['RELATION']}) YIELD node, componentId
WITH componentId, count(*) AS size, min(ID(node)) AS nid
WHERE size = 1
MATCH (c:Concept) WHERE ID(c) = nid AND ($discipline IS NULL OR c.discipline = $discipline)
RETURN c.discipline AS discipline, 'isolated_concept' AS kind, count(c) AS count
UNION ALL
CALL algo.WCC({nodeLabels: ['Concept', 'Chain'], relationshipTypes: ['HAS_STEP']}) YIELD node, componentId
WITH componentId, count(*) AS size, min(ID(node)) AS nid
WHERE size = 1
MATCH (c:Concept) WHERE ID(c) = nid AND ($discipline IS NULL OR c.discipline = $discipline)
RETURN c.discipline AS discipline, 'uncovered_concept' AS kind, count(c) AS count
