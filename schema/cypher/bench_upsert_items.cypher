// name: bench_upsert_items
// purpose: Write benchmark items whole or not at all: (:BenchmarkItem {id})-[:TESTS]->(:Chain) and one (item)-[:OPTION {index, correct, operator, kind, via}]->(:Concept) per option. An item whose chain or any option concept is missing is skipped (the count tells); a rewritten item's old OPTION edges are replaced, so reruns are idempotent.
// param rows: list - maps {id, chain_id, props, options}; options: maps {index, concept_id, props}
// columns: written
// mode: write
UNWIND $rows AS row
MATCH (ch:Chain {id: row.chain_id})
UNWIND row.options AS o
MATCH (c:Concept {id: o.concept_id})
WITH row, ch, collect({o: o, c: c}) AS found
WHERE size(found) = size(row.options)
MERGE (i:BenchmarkItem {id: row.id})
SET i += row.props
MERGE (i)-[:TESTS]->(ch)
WITH i, found
OPTIONAL MATCH (i)-[old:OPTION]->(:Concept)
DELETE old
WITH DISTINCT i, found
UNWIND found AS f
WITH i, f.o AS o, f.c AS c
CREATE (i)-[e:OPTION]->(c)
SET e += o.props, e.index = o.index
RETURN count(DISTINCT i) AS written
