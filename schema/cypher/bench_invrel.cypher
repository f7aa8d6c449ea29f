// name: bench_invrel
// purpose: INVREL distractor candidates: where a chain leads when step pos's relation is replaced by its inverse or contrary (from the vocabulary) and the rest of the chain's relation types are followed from there. The rows are prepared from the chain and the vocabulary: from_id is the chain's concept at pos, types = [inverse of step pos's type] + the types after pos (1 to 6 hops; a longer sequence finds nothing). A step whose type has no inverse gets no row.
// param rows: list - maps {chain_id, pos, from_id, types}
// param limit: int = 5 - most candidates per row (lowest concept ids first, so reruns agree)
// columns: chain_id, pos, concept_id, name, canonical_id, aliases, discipline, via
// mode: read
// One branch per sequence length, at the top level: a CALL { ... UNION ... } per row costs FalkorDB 4.16
// several times as much. Each branch's hops are fixed, so every hop filters on its type as it expands.
UNWIND $rows AS row
WITH row WHERE size(row.types) = 1
MATCH (a:Concept {id: row.from_id})
MATCH (a)-[r1:RELATION {type: row.types[0]}]->(z:Concept)
WITH row, z, [r1.id] AS via ORDER BY z.id
WITH row, collect([z.id, z.name, coalesce(z.merged_into, z.id), coalesce(z.aliases, []), z.discipline, via])[0..$limit] AS found
UNWIND found AS f
RETURN row.chain_id AS chain_id, row.pos AS pos, f[0] AS concept_id, f[1] AS name, f[2] AS canonical_id,
       f[3] AS aliases, f[4] AS discipline, f[5] AS via
UNION ALL
UNWIND $rows AS row
WITH row WHERE size(row.types) = 2
MATCH (a:Concept {id: row.from_id})
MATCH (a)-[r1:RELATION {type: row.types[0]}]->(:Concept)-[r2:RELATION {type: row.types[1]}]->(z:Concept)
WITH row, z, [r1.id, r2.id] AS via ORDER BY z.id
WITH row, collect([z.id, z.name, coalesce(z.merged_into, z.id), coalesce(z.aliases, []), z.discipline, via])[0..$limit] AS found
UNWIND found AS f
RETURN row.chain_id AS chain_id, row.pos AS pos, f[0] AS concept_id, f[1] AS name, f[2] AS canonical_id,
       f[3] AS aliases, f[4] AS discipline, f[5] AS via
UNION ALL
UNWIND $rows AS row
WITH row WHERE size(row.types) = 3
MATCH (a:Concept {id: row.from_id})
MATCH (a)-[r1:RELATION {type: row.types[0]}]->(:Concept)-[r2:RELATION {type: row.types[1]}]->(:Concept)-[r3:RELATION {type: row.types[2]}]->(z:Concept)
WITH row, z, [r1.id, r2.id, r3.id] AS via ORDER BY z.id
WITH row, collect([z.id, z.name, coalesce(z.merged_into, z.id), coalesce(z.aliases, []), z.discipline, via])[0..$limit] AS found
UNWIND found AS f
RETURN row.chain_id AS chain_id, row.pos AS pos, f[0] AS concept_id, f[1] AS name, f[2] AS canonical_id,
       f[3] AS aliases, f[4] AS discipline, f[5] AS via
UNION ALL
UNWIND $rows AS row
WITH row WHERE size(row.types) = 4
MATCH (a:Concept {id: row.from_id})
MATCH (a)-[r1:RELATION {type: row.types[0]}]->(:Concept)-[r2:RELATION {type: row.types[1]}]->(:Concept)-[r3:RELATION {type: row.types[2]}]->(:Concept)-[r4:RELATION {type: row.types[3]}]->(z:Concept)
WITH row, z, [r1.id, r2.id, r3.id, r4.id] AS via ORDER BY z.id
WITH row, collect([z.id, z.name, coalesce(z.merged_into, z.id), coalesce(z.aliases, []), z.discipline, via])[0..$limit] AS found
UNWIND found AS f
RETURN row.chain_id AS chain_id, row.pos AS pos, f[0] AS concept_id, f[1] AS name, f[2] AS canonical_id,
       f[3] AS aliases, f[4] AS discipline, f[5] AS via
UNION ALL
UNWIND $rows AS row
WITH row WHERE size(row.types) = 5
MATCH (a:Concept {id: row.from_id})
MATCH (a)-[r1:RELATION {type: row.types[0]}]->(:Concept)-[r2:RELATION {type: row.types[1]}]->(:Concept)-[r3:RELATION {type: row.types[2]}]->(:Concept)-[r4:RELATION {type: row.types[3]}]->(:Concept)-[r5:RELATION {type: row.types[4]}]->(z:Concept)
WITH row, z, [r1.id, r2.id, r3.id, r4.id, r5.id] AS via ORDER BY z.id
WITH row, collect([z.id, z.name, coalesce(z.merged_into, z.id), coalesce(z.aliases, []), z.discipline, via])[0..$limit] AS found
UNWIND found AS f
RETURN row.chain_id AS chain_id, row.pos AS pos, f[0] AS concept_id, f[1] AS name, f[2] AS canonical_id,
       f[3] AS aliases, f[4] AS discipline, f[5] AS via
UNION ALL
UNWIND $rows AS row
WITH row WHERE size(row.types) = 6
MATCH (a:Concept {id: row.from_id})
MATCH (a)-[r1:RELATION {type: row.types[0]}]->(:Concept)-[r2:RELATION {type: row.types[1]}]->(:Concept)-[r3:RELATION {type: row.types[2]}]->(:Concept)-[r4:RELATION {type: row.types[3]}]->(:Concept)-[r5:RELATION {type: row.types[4]}]->(:Concept)-[r6:RELATION {type: row.types[5]}]->(z:Concept)
WITH row, z, [r1.id, r2.id, r3.id, r4.id, r5.id, r6.id] AS via ORDER BY z.id
WITH row, collect([z.id, z.name, coalesce(z.merged_into, z.id), coalesce(z.aliases, []), z.discipline, via])[0..$limit] AS found
UNWIND found AS f
RETURN row.chain_id AS chain_id, row.pos AS pos, f[0] AS concept_id, f[1] AS name, f[2] AS canonical_id,
       f[3] AS aliases, f[4] AS discipline, f[5] AS via
