// name: concept_aliases
// purpose: Every concept of one discipline with its aliases and the concept it was merged into (null for a canonical concept): the input of the extraction-time alias table.
// param discipline: string - the discipline
// columns: id, name, aliases, merged_into
// mode: read
MATCH (c:Concept)
WHERE c.discipline = $discipline
RETURN c.id AS id, c.name AS name, c.aliases AS aliases, c.merged_into AS merged_into
ORDER BY id
