"""Untargeted patches: the Debugger's own patch builder aimed at chains drawn at random.

A control for the claim that *targeting* helps. For every diagnosis of a run, an untargeted twin
keeps its kind (concept gap or reasoning deficit) and the number of weak relations and concepts,
but points them at a chain drawn uniformly at random from the same discipline's chains, with
relations and concepts drawn from it. The twins go through the same :func:`build_patch_set`, the
same budget, replay share and templates, so the patch set has the kinds, families and format of the
targeted one and differs only in which knowledge it teaches.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from proda.errors import InputError
from proda.pipelines.debug.config import PatchConfig
from proda.pipelines.debug.diagnose import DiagnosisRecord, find_run, stored_diagnoses
from proda.pipelines.debug.export import export_jsonl
from proda.pipelines.debug.patch import build_patch_set, write_patch_set
from proda.schema.store import GraphStore
from proda.schema.vocabulary import Vocabulary, default_vocabulary


@dataclass
class UntargetedReport:
    """What :func:`write_untargeted` made: patches per discipline and the records exported."""

    patch_set: str
    diagnoses: int
    patches: dict[str, int]
    unpatchable: dict[str, str]
    exported: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def untargeted_twin(d: DiagnosisRecord, chain: dict[str, Any], rng: random.Random) -> DiagnosisRecord:
    """``d`` aimed at ``chain`` (a ``debug_chains`` row): same kind and as many weak relations and
    concepts as ``d`` has (at most as many as the chain has), drawn from the chain."""
    relations: list[str] = list(chain["relation_ids"] or [])
    concepts: list[str] = list(chain["concept_ids"] or [])
    types: list[str] = list(chain["relation_types"] or [])
    picked = sorted(rng.sample(range(len(relations)), min(len(d.weak_relations), len(relations))))
    weak_types = [types[i] for i in picked if i < len(types)]
    return d.model_copy(update={
        "id": f"{d.id}~untargeted", "chain_id": chain["id"], "chain_relations": relations,
        "chain_concepts": concepts, "relation_types": types,
        "weak_relations": [relations[i] for i in picked],
        "weak_concepts": rng.sample(concepts, min(len(d.weak_concepts), len(concepts))),
        "weak_types": weak_types or rng.sample(types, min(len(d.weak_types), len(types))),
    })


def write_untargeted(store: GraphStore, config: PatchConfig, out: Path, *,
                     diagnosed_run: str, vocab: Vocabulary | None = None) -> UntargetedReport:
    """Write patch set ``config.patch_set`` from untargeted twins of ``diagnosed_run``'s stored
    diagnoses (the run must have been diagnosed: ``proda patch`` or ``patch_and_export``) and export
    it to ``out``. ``config.seed`` draws the chains; the budget, replay share and replay dataset are
    ``config``'s. Raises :class:`InputError` when the run has no stored diagnosis."""
    vocab = vocab or default_vocabulary()
    run = find_run(store, diagnosed_run)
    diagnoses = stored_diagnoses(store, run.id, config.discipline)
    if not diagnoses:
        raise InputError(f"run {diagnosed_run!r} has no stored diagnosis: diagnose it first (proda patch)")
    by_discipline: dict[str, list[DiagnosisRecord]] = {}
    for d in sorted(diagnoses.values(), key=lambda d: d.id):
        by_discipline.setdefault(d.discipline, []).append(d)
    patches: dict[str, int] = {}
    unpatchable: dict[str, str] = {}
    for discipline, ds in sorted(by_discipline.items()):
        rng = random.Random(f"{config.seed}\x1f{discipline}")
        # never a test chain: the control must not learn what the test measures, and targeted patches
        # come from dev failures only
        chains = [r for r in store.query("debug_chains", {"discipline": discipline})
                  if r["relation_ids"] and r["split"] != "test"]
        if not chains:
            unpatchable[discipline] = "the discipline has no train or dev chain to draw from"
            continue
        twins = [untargeted_twin(d, rng.choice(chains), rng) for d in ds]
        cfg = replace(config, discipline=discipline)
        try:
            rows, stats = build_patch_set(store, run, discipline, twins, cfg, vocab)
            patches[discipline] = write_patch_set(store, run, discipline, cfg, rows, stats)
        except InputError as e:
            unpatchable[discipline] = str(e)
    exported = export_jsonl(store, config.patch_set, out) if patches else 0
    return UntargetedReport(config.patch_set, len(diagnoses), patches, unpatchable, exported)


__all__ = ["UntargetedReport", "untargeted_twin", "write_untargeted"]
