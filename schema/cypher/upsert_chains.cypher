// name: upsert_chains
// purpose: Create or update L3 Chain nodes, keeping one source's evidence whichever source wrote last; colliding ids are skipped. Steps are linked by link_chain_steps, chunks by link_chain_chunks.
// param rows: list - maps {id, props}
// columns: written
// mode: write
UNWIND $rows AS row
OPTIONAL MATCH (x:Chain {id: row.id})
WITH row, x WHERE x IS NULL OR x.fp = row.props.fp
MERGE (ch:Chain {id: row.id})
WITH ch, row, ch.fp IS NOT NULL AS existed,
     coalesce(ch.extractor, '') AS x0, coalesce(ch.prompt_version, '') AS v0, coalesce(ch.model, '') AS m0,
     coalesce(ch.chunk_id, '') AS k0, coalesce(ch.evidence, '') AS e0, coalesce(ch.origin, '') AS o0,
     coalesce(row.props.extractor, '') AS x1, coalesce(row.props.prompt_version, '') AS v1,
     coalesce(row.props.model, '') AS m1, coalesce(row.props.chunk_id, '') AS k1,
     coalesce(row.props.evidence, '') AS e1, coalesce(row.props.origin, '') AS o1
// one chain stated by several sources keeps the source with the highest (extractor, prompt version,
// model, chunk, evidence, origin), as proda.schema.statements does, whichever source or rerun wrote last.
// Its other properties follow from the id, but for a split given with the row, which is kept.
WITH ch, row, existed AND (x0 > x1 OR (x0 = x1 AND (v0 > v1 OR (v0 = v1 AND (m0 > m1 OR (m0 = m1 AND (k0 > k1 OR
     (k0 = k1 AND (e0 > e1 OR (e0 = e1 AND o0 > o1)))))))))) AS keep
SET ch += CASE WHEN NOT keep THEN row.props WHEN row.props.split IS NULL THEN {} ELSE {split: row.props.split} END
RETURN count(ch) AS written
