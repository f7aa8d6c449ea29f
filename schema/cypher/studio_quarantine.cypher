// name: studio_quarantine
// purpose: One page of quarantined extraction output in id order (optionally one discipline and reason family) with the full reason, the chunk it came from and the rejected payload.
// param discipline: string? - one discipline (null: all)
// param reason: string? - one reason family, as quarantine_counts names it (null: all)
// param skip: int = 0 - rows skipped first
// param limit: int = 50 - page size
// columns: id, discipline, reason_kind, reason, chunk_id, extractor_key, payload
// mode: read
MATCH (q:Quarantine)
WHERE ($discipline IS NULL OR q.discipline = $discipline) AND ($reason IS NULL OR q.reason_kind = $reason)
RETURN q.id AS id, q.discipline AS discipline, q.reason_kind AS reason_kind, q.reason AS reason,
       q.chunk_id AS chunk_id, q.extractor_key AS extractor_key, q.payload AS payload
ORDER BY id SKIP $skip LIMIT $limit
