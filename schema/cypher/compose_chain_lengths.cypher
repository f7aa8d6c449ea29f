// name: compose_chain_lengths
// purpose: L3 chains per discipline, origin (extracted by an extractor, or composed from one document's relations by proda compose) and length in relation steps: the structural check's chain counts and length histogram split by origin.
// param discipline: string? - one discipline (null: all)
// columns: discipline, origin, length, chains
// mode: read
// A chain written before origin existed is an extracted one.
MATCH (ch:Chain)
WHERE $discipline IS NULL OR ch.discipline = $discipline
RETURN ch.discipline AS discipline, coalesce(ch.origin, 'extracted') AS origin,
       coalesce(ch.length, size(ch.relation_ids)) AS length, count(ch) AS chains
ORDER BY discipline, origin, length
