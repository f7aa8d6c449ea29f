// name: upsert_concepts
// purpose: Create or update L1 Concept nodes by deterministic id, keeping aliases already recorded and choosing the shown name independently of write order; colliding ids are skipped.
// param rows: list - maps {id, props}
// columns: written
// mode: write
UNWIND $rows AS row
OPTIONAL MATCH (x:Concept {id: row.id})
WITH row, x WHERE x IS NULL OR x.fp = row.props.fp
MERGE (c:Concept {id: row.id})
// aliases accumulate (entity-resolution merges add some): never let a re-extraction wipe them
WITH c, row, coalesce(c.aliases, []) AS old, c.name AS was, row.props.name AS new
SET c += row.props
SET c.aliases = old + [a IN coalesce(row.props.aliases, []) WHERE NOT a IN old]
// every name written to one id is one normalised name spelled differently ("Fair Trade Act", "fair
// trade act"): keep the cased spelling, else the first in string order, so the name shown
// (and the questions built from it) is the same whichever source or rerun wrote last
SET c.name = CASE
    WHEN was IS NULL THEN new
    WHEN toLower(was) <> was AND toLower(new) = new THEN was
    WHEN toLower(was) = was AND toLower(new) <> new THEN new
    WHEN was <= new THEN was
    ELSE new END
RETURN count(c) AS written
