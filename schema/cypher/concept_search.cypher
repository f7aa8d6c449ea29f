// name: concept_search
// purpose: Concepts whose match key (normalised, singularised name) starts with a prefix, in key order, one page at a time; a concept merged into another is returned with its canonical concept. A range seek on the match_key index, proportional to the matches.
// param prefix: string - the match key prefix
// param from_key: string - lower bound of the range seek: the prefix, or on later pages the last key seen
// param upper: string - the least string above every string starting with the prefix (exclusive upper bound)
// param after_key: string = "" - keyset paging: only matches after (after_key, after_id)
// param after_id: string = "" - keyset paging: the id of the last match of the previous page
// param discipline: string? - only this discipline (null: all)
// param limit: int = 20 - most rows returned
// columns: key, matched_id, matched_name, id, name, discipline
// mode: read
MATCH (c:Concept)
WHERE c.match_key >= $from_key AND c.match_key < $upper AND c.match_key STARTS WITH $prefix
  AND ($discipline IS NULL OR c.discipline = $discipline)
  // keyset paging without an OR over match_key: FalkorDB folds every match_key predicate into the index
  // range, and an OR (or an optional bound) turns the seek into a scan of the whole index
  AND NOT (c.match_key = $after_key AND c.id <= $after_id)
WITH c
ORDER BY c.match_key, c.id
LIMIT $limit
OPTIONAL MATCH (canonical:Concept {id: c.merged_into})
RETURN c.match_key AS key, c.id AS matched_id, c.name AS matched_name,
       coalesce(canonical.id, c.id) AS id, coalesce(canonical.name, c.name) AS name, c.discipline AS discipline
ORDER BY key, matched_id
