// name: debug_patches
// purpose: The patches of a complete patch set (optionally one discipline), paged by id, for export in the chat format TRL's SFTTrainer takes.
// param name: string - the patch set name
// param discipline: string? - one discipline (null: all)
// param after: string - return patches whose id sorts after this ('' for the first page)
// param limit: int - page size
// columns: id, discipline, kind, family, messages, qa_hash, diagnoses, chains
// mode: read
MATCH (s:PatchSet {name: $name})
WHERE s.status = 'complete' AND ($discipline IS NULL OR s.discipline = $discipline)
MATCH (p:Patch {set_id: s.id})
WHERE p.id > $after
RETURN p.id AS id, p.discipline AS discipline, p.kind AS kind, p.family AS family, p.messages AS messages,
       p.qa_hash AS qa_hash, [(p)-[:REPAIRS]->(d:Diagnosis) | d.id] AS diagnoses,
       [(p)-[:FROM_CHAIN]->(ch:Chain) | ch.id] AS chains
ORDER BY id LIMIT $limit
