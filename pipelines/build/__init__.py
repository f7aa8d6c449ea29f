"""Builder: instruction-tuning examples from L1 concepts and L2 relations, grounded in their chunks.

The pieces:

* :mod:`~proda.pipelines.build.config`: :class:`BuildConfig` (TRL-style, every field with help);
* :mod:`~proda.pipelines.build.templates`: the example families, deterministic templates;
* :mod:`~proda.pipelines.build.builder`: the stage, one shard per discipline, written as
  ``(:TrainingExample)`` nodes;
* :mod:`~proda.pipelines.build.export`: JSONL and Hugging Face datasets in TRL's chat format.

Graph shape written here::

    (:TrainingExample {id, dataset, discipline, family, messages, relation_id, chunk_id, qa_hash,
                       template_version})
    (:TrainingExample)-[:TEACHES]->(:Concept)      the relation's subject and object
    (:TrainingExample)-[:FROM_CHUNK]->(:Chunk)     the chunk that grounds it

Examples come from L1/L2 only, never from L3 chains (the benchmark's material), and an example
whose instance hash equals a benchmark item's is dropped before it is written.
"""

from proda.pipelines.build.builder import BuildReport, build_examples
from proda.pipelines.build.config import BuildConfig
from proda.pipelines.build.templates import Example, examples_for_relation

__all__ = ["BuildConfig", "BuildReport", "Example", "build_examples", "examples_for_relation"]
