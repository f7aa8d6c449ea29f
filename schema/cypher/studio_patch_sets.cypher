// name: studio_patch_sets
// purpose: Every patch set (of every name), optionally of one evaluation run, newest name last: the Debugger page's list.
// param run_id: string? - only sets written for this run (null: all)
// param limit: int = 100 - most rows
// columns: id, name, discipline, run_id, status, patches, counts
// mode: read
MATCH (s:PatchSet)
WHERE $run_id IS NULL OR s.run_id = $run_id
RETURN s.id AS id, s.name AS name, s.discipline AS discipline, s.run_id AS run_id, s.status AS status,
       s.patches AS patches, s.counts AS counts
ORDER BY name, discipline
LIMIT $limit
