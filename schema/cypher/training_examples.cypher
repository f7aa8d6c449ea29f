// name: training_examples
// purpose: Training examples of a dataset (optionally one discipline), paged by id, for export in the chat format TRL's SFTTrainer takes.
// param dataset: string - the dataset name
// param discipline: string? - one discipline (null: all)
// param after: string - return examples whose id sorts after this ('' for the first page)
// param limit: int - page size
// columns: id, dataset, discipline, family, messages, relation_id, chunk_id, qa_hash, template_version, paraphrased_by, template
// mode: read
MATCH (x:TrainingExample {dataset: $dataset})
WHERE x.id > $after AND ($discipline IS NULL OR x.discipline = $discipline)
RETURN x.id AS id, x.dataset AS dataset, x.discipline AS discipline, x.family AS family, x.messages AS messages,
       x.relation_id AS relation_id, x.chunk_id AS chunk_id, x.qa_hash AS qa_hash,
       x.template_version AS template_version, x.paraphrased_by AS paraphrased_by, x.template AS template
ORDER BY x.id LIMIT $limit
