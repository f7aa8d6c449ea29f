// name: upsert_concepts
// purpose: Create or update L1 Concept nodes by deterministic id, keeping aliases already recorded and choosing the shown name and the source independently of write order; colliding ids are skipped.
// param rows: list - maps {id, props}
// columns: written
// mode: write
UNWIND $rows AS row
OPTIONAL MATCH (x:Concept {id: row.id})
WITH row, x WHERE x IS NULL OR x.fp = row.props.fp
MERGE (c:Concept {id: row.id})
// aliases accumulate (entity-resolution merges add some): never let a re-extraction wipe them
WITH c, row, coalesce(c.aliases, []) AS old, c.name AS was_name, row.props.name AS new,
     c.fp IS NOT NULL AS existed,
     coalesce(c.extractor, '') AS x0, coalesce(c.prompt_version, '') AS v0, coalesce(c.model, '') AS m0,
     coalesce(c.description, '') AS d0, coalesce(row.props.extractor, '') AS x1,
     coalesce(row.props.prompt_version, '') AS v1, coalesce(row.props.model, '') AS m1,
     coalesce(row.props.description, '') AS d1
// the provenance and description come from one source, the one with the highest (extractor, prompt
// version, model, description), as proda.schema.statements does, whichever source or rerun wrote
// last; the other properties follow from the id but for the name and aliases, settled below
WITH c, row, old, was_name, new,
     existed AND (x0 > x1 OR (x0 = x1 AND (v0 > v1 OR (v0 = v1 AND (m0 > m1 OR (m0 = m1 AND d0 > d1)))))) AS keep
SET c += CASE WHEN keep THEN {} ELSE row.props END
SET c.aliases = old + [a IN coalesce(row.props.aliases, []) WHERE NOT a IN old]
// every name written to one id is one normalised name spelled differently ("Fair Trade Act", "fair
// trade act"): keep the cased spelling, else the first in string order, so the name shown (and the
// questions built from it) is the same whichever source or rerun wrote last
SET c.name = CASE
    WHEN was_name IS NULL THEN new
    WHEN toLower(was_name) <> was_name AND toLower(new) = new THEN was_name
    WHEN toLower(was_name) = was_name AND toLower(new) <> new THEN new
    WHEN was_name <= new THEN was_name
    ELSE new END
RETURN count(c) AS written
