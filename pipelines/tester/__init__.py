"""Tester: multiple-choice benchmarks from held-out L3 chains, with distractors built from graph structure.

The pieces, in the order a build uses them:

* :mod:`~proda.pipelines.tester.split`: the deterministic test/dev/train split of chains;
* :mod:`~proda.pipelines.tester.chains`: held-out chains as the graph holds them now;
* :mod:`~proda.pipelines.tester.question`: templated question wording per relation type;
* :mod:`~proda.pipelines.tester.distractors`: the INVREL, TRUNC and NEARMISS operators;
* :mod:`~proda.pipelines.tester.validity`: the proof that each distractor is wrong, and option selection;
* :mod:`~proda.pipelines.tester.build`: the stage, one shard per discipline;
* :mod:`~proda.pipelines.tester.check`: validity and orthogonality re-verified on the current graph;
* :mod:`~proda.pipelines.tester.export`: JSONL, Hugging Face dataset, lm-evaluation-harness task.

Graph shape written here, and the contract for later stages::

    (:BenchmarkItem {id, benchmark, discipline, split, chain_id, question, choices, answer_index,
                     answer, qa_hash, seed, template_version, operators, record})
    (:BenchmarkItem)-[:TESTS]->(:Chain {split: 'test' | 'dev'})
    (:BenchmarkItem)-[:OPTION {index, correct, operator, kind, via, text, detail}]->(:Concept)
    (:TrainingExample | :Patch {qa_hash = instance_hash(question, answer)})-[:FROM_CHAIN]->(:Chain {split: 'train'})
"""

from proda.pipelines.tester.config import BenchConfig
from proda.pipelines.tester.model import BenchmarkItemRecord, OptionRecord, instance_hash, item_id

__all__ = ["BenchConfig", "BenchmarkItemRecord", "OptionRecord", "instance_hash", "item_id"]
