// name: quarantine_counts
// purpose: Quarantined extraction output per discipline and reason family.
// param discipline: string? - one discipline (null: all)
// columns: discipline, reason, count
// mode: read
MATCH (q:Quarantine)
WHERE $discipline IS NULL OR q.discipline = $discipline
RETURN q.discipline AS discipline, q.reason_kind AS reason, count(q) AS count
ORDER BY discipline, count DESC
