// name: traceback_item
// purpose: From a benchmark item back to what it tests: per position of its chain the concept, the RELATION edge leaving it, that edge's chunk and document, and how many benchmark items pass the concept and the edge (item -> chain -> edges -> concepts -> chunks -> documents).
// param id: string - the benchmark item id
// columns: item_id, benchmark, chain_id, discipline, pos, concept_id, concept_name, concept_items, relation_id, relation_type, relation_items, chunk_id, document_id, document_title
// mode: read
MATCH (i:BenchmarkItem {id: $id})-[:TESTS]->(ch:Chain)-[s:HAS_STEP]->(c:Concept)
OPTIONAL MATCH (c)-[r:RELATION {id: s.relation_id}]->(:Concept)
// project the chunk id first: FalkorDB's index seek cannot read a property of an optional match;
// the two comprehensions use distinct variables, since FalkorDB confuses a name reused across them
WITH i, ch, s, c, r, r.chunk_id AS chunk_ref, s.relation_id AS step_relation
OPTIONAL MATCH (k:Chunk {id: chunk_ref})<-[:HAS_CHUNK]-(d:Document)
RETURN i.id AS item_id, i.benchmark AS benchmark, ch.id AS chain_id, ch.discipline AS discipline, s.pos AS pos,
       c.id AS concept_id, c.name AS concept_name,
       size([(c)<-[:HAS_STEP]-(:Chain)<-[:TESTS]-(ct:BenchmarkItem) | ct.id]) AS concept_items,
       r.id AS relation_id, r.type AS relation_type,
       CASE WHEN r IS NULL THEN 0
            ELSE size([(c)<-[s2:HAS_STEP]-(:Chain)<-[:TESTS]-(rt:BenchmarkItem) WHERE s2.relation_id = step_relation | rt.id])
       END AS relation_items,
       k.id AS chunk_id, d.id AS document_id, d.title AS document_title
ORDER BY pos
