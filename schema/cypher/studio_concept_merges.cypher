// name: studio_concept_merges
// purpose: The merges a concept took part in, as canonical or as duplicate, oldest first (undone ones too, marked).
// param id: string - the concept id
// columns: id, canonical_id, canonical_name, duplicate_id, duplicate_name, method, score, created_at, undone
// mode: read
MATCH (m:Merge)
WHERE m.canonical_id = $id OR m.duplicate_id = $id
RETURN m.id AS id, m.canonical_id AS canonical_id, m.canonical_name AS canonical_name,
       m.duplicate_id AS duplicate_id, m.duplicate_name AS duplicate_name, m.method AS method, m.score AS score,
       m.created_at AS created_at, m.undone AS undone
ORDER BY created_at, id
