// name: debug_patch_sets
// purpose: Complete patch sets by name (optionally one discipline): a (:PatchSet) node exists only once all its patches were written in the same statement, so its presence marks a finished shard (resume skips it) and its fingerprint says which configuration made it.
// param name: string - the patch set name
// param discipline: string? - one discipline (null: all)
// columns: id, name, discipline, run_id, status, fingerprint, patches, counts
// mode: read
MATCH (s:PatchSet {name: $name})
WHERE $discipline IS NULL OR s.discipline = $discipline
RETURN s.id AS id, s.name AS name, s.discipline AS discipline, s.run_id AS run_id, s.status AS status,
       s.fingerprint AS fingerprint, s.patches AS patches, s.counts AS counts
ORDER BY discipline
