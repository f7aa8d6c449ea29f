"""Debugger: diagnose a model's failed benchmark items and repair them with targeted patches.

The pieces:

* :mod:`~proda.pipelines.debug.probes`: single-hop probes over a failed chain's L2 edges;
* :mod:`~proda.pipelines.debug.diagnose`: the measurement (concept gap or reasoning deficit),
  stored as ``(:Diagnosis)`` nodes;
* :mod:`~proda.pipelines.debug.templates`: ``f_refine`` and ``f_cot`` patch templates;
* :mod:`~proda.pipelines.debug.patch`: the budgeted mix with replay, written whole as
  ``(:Patch)`` nodes and a ``(:PatchSet)`` per discipline;
* :mod:`~proda.pipelines.debug.stage`: one shard per discipline, resumable, local or Ray;
* :mod:`~proda.pipelines.debug.export`: JSONL in TRL's chat format;
* :mod:`~proda.pipelines.debug.config`: :class:`PatchConfig` (TRL-style, every field with help).

Patches are held to the benchmark's orthogonality contract (``bench_orthogonality``): every patch
carries ``qa_hash``, none equals a benchmark item, and f_cot scaffolds link FROM_CHAIN only to
train-split chains.
"""

from proda.pipelines.debug.config import PatchConfig
from proda.pipelines.debug.diagnose import DiagnosisRecord, RunInfo, diagnose_discipline, find_run
from proda.pipelines.debug.export import export_jsonl, iter_patches
from proda.pipelines.debug.stage import PatchReport, ShardResult, run_patch

__all__ = ["DiagnosisRecord", "PatchConfig", "PatchReport", "RunInfo", "ShardResult", "diagnose_discipline",
           "export_jsonl", "find_run", "iter_patches", "run_patch"]
