// name: upsert_relations
// purpose: Create or update L2 RELATION edges between existing concepts, keeping one source's evidence whichever source wrote last; rows with a missing endpoint or a colliding id are skipped.
// param rows: list - maps {id, subject_id, object_id, props}
// columns: written
// mode: write
UNWIND $rows AS row
OPTIONAL MATCH ()-[x:RELATION {id: row.id}]->()
WITH row, x WHERE x IS NULL OR x.fp = row.props.fp
MATCH (s:Concept {id: row.subject_id})
MATCH (o:Concept {id: row.object_id})
MERGE (s)-[r:RELATION {id: row.id}]->(o)
WITH r, row, r.fp IS NOT NULL AS existed,
     coalesce(r.confidence, -1.0) AS c0, coalesce(r.extractor, '') AS x0, coalesce(r.prompt_version, '') AS v0,
     coalesce(r.model, '') AS m0, coalesce(r.chunk_id, '') AS k0, coalesce(r.evidence, '') AS e0,
     coalesce(row.props.confidence, -1.0) AS c1, coalesce(row.props.extractor, '') AS x1,
     coalesce(row.props.prompt_version, '') AS v1, coalesce(row.props.model, '') AS m1,
     coalesce(row.props.chunk_id, '') AS k1, coalesce(row.props.evidence, '') AS e1
// one relation stated by several sources (two chunks, an extractor and a hand-made file) keeps the
// source with the highest (confidence, extractor, prompt version, model, chunk, evidence), as
// proda.schema.statements does: the same evidence whichever source or rerun wrote last. Every other property follows from
// the id, so a row whose source loses writes nothing.
WITH r, row, existed AND (c0 > c1 OR (c0 = c1 AND (x0 > x1 OR (x0 = x1 AND (v0 > v1 OR (v0 = v1 AND (m0 > m1 OR
     (m0 = m1 AND (k0 > k1 OR (k0 = k1 AND e0 > e1)))))))))) AS keep
SET r += CASE WHEN keep THEN {} ELSE row.props END
RETURN count(r) AS written
