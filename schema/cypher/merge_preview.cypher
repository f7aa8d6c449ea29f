// name: merge_preview
// purpose: The current state of both concepts of each proposed merge (discipline, name, aliases, merged_into), read before merging and for dry runs; a concept that does not exist comes back as nulls.
// param rows: list - maps {canonical_id, duplicate_id}
// columns: canonical_id, duplicate_id, canonical_discipline, duplicate_discipline, canonical_name, duplicate_name, canonical_aliases, duplicate_aliases, canonical_merged_into, duplicate_merged_into
// mode: read
UNWIND $rows AS row
OPTIONAL MATCH (c:Concept {id: row.canonical_id})
OPTIONAL MATCH (d:Concept {id: row.duplicate_id})
RETURN row.canonical_id AS canonical_id, row.duplicate_id AS duplicate_id,
       c.discipline AS canonical_discipline, d.discipline AS duplicate_discipline,
       c.name AS canonical_name, d.name AS duplicate_name,
       c.aliases AS canonical_aliases, d.aliases AS duplicate_aliases,
       c.merged_into AS canonical_merged_into, d.merged_into AS duplicate_merged_into
