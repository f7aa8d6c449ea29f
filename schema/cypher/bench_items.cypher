// name: bench_items
// purpose: Stored benchmark items with the chain they test (null: the chain is gone) and their options as linked now: each OPTION edge with its concept's current canonical id, name and aliases (an option whose concept was deleted is missing here but not from the item's record).
// param benchmark: string? - one benchmark (null: all)
// param discipline: string? - one discipline (null: all)
// param split: string? - test or dev (null: both)
// param id: string? - one item (null: all)
// columns: id, benchmark, discipline, split, chain_id, record, linked_chain_id, options
// mode: read
MATCH (i:BenchmarkItem)
WHERE ($id IS NULL OR i.id = $id) AND ($benchmark IS NULL OR i.benchmark = $benchmark)
  AND ($discipline IS NULL OR i.discipline = $discipline) AND ($split IS NULL OR i.split = $split)
OPTIONAL MATCH (i)-[:TESTS]->(ch:Chain)
OPTIONAL MATCH (i)-[o:OPTION]->(c:Concept)
WITH i, ch, o, c
ORDER BY o.index
WITH i, ch, [x IN collect({index: o.index, concept_id: c.id, canonical_id: coalesce(c.merged_into, c.id), name: c.name,
                           aliases: coalesce(c.aliases, []), operator: o.operator, kind: o.kind, via: o.via})
             WHERE x.concept_id IS NOT NULL] AS options
RETURN i.id AS id, i.benchmark AS benchmark, i.discipline AS discipline, i.split AS split, i.chain_id AS chain_id,
       i.record AS record, ch.id AS linked_chain_id, options
ORDER BY id
