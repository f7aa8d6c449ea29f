// name: merges
// purpose: The entity-resolution audit: recorded merges, oldest first, with method, score and the aliases each added; undone merges only on request.
// param discipline: string? - one discipline (null: all)
// param include_undone: bool = false - also list merges that were undone
// param id: string? - one merge (null: all)
// columns: id, discipline, canonical_id, canonical_name, duplicate_id, duplicate_name, method, score, created_at, undone, undone_at, added_aliases
// mode: read
MATCH (m:Merge)
WHERE ($discipline IS NULL OR m.discipline = $discipline)
  AND ($include_undone OR m.undone = false)
  AND ($id IS NULL OR m.id = $id)
RETURN m.id AS id, m.discipline AS discipline, m.canonical_id AS canonical_id, m.canonical_name AS canonical_name,
       m.duplicate_id AS duplicate_id, m.duplicate_name AS duplicate_name, m.method AS method, m.score AS score,
       m.created_at AS created_at, m.undone AS undone, m.undone_at AS undone_at, m.added_aliases AS added_aliases
ORDER BY created_at, id
