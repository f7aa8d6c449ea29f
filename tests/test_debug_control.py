"""Untargeted patch sets (the experiment's format control): same kinds and budget as the targeted
set, built by the same code, but aimed at chains drawn at random."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from proda.errors import InputError
from proda.pipelines.debug import PatchConfig, run_patch
from proda.pipelines.debug.control import untargeted_twin, write_untargeted
from proda.pipelines.debug.diagnose import stored_diagnoses
from proda.schema.store.base import GraphStore
from tests.debug_world import RuleScorer, build_world, evaluate_run

KNOWN = ["price>supply", "supply>surplus", "tax>demand"]


def _kinds(store: GraphStore, patch_set: str) -> dict[str, int]:
    rows = store.run("MATCH (p:Patch {patch_set: $s}) RETURN p.kind AS kind, count(p) AS n", {"s": patch_set})
    return {r["kind"]: r["n"] for r in rows}


def test_untargeted_set_matches_the_targeted_format_with_other_knowledge(store: GraphStore, tmp_path: Path) -> None:
    w = build_world(store)
    evaluate_run(store, tmp_path, w, correct=["growth"])
    targeted = PatchConfig(run="dbg-run", discipline="economics", budget=10, replay_ratio=0.3)
    run_patch(store, targeted, tmp_path, scorer_factory=lambda: RuleScorer(w, known=KNOWN))

    out = tmp_path / "untargeted.jsonl"
    report = write_untargeted(store, PatchConfig(run="dbg-run", patch_set="rand", budget=10, replay_ratio=0.3,
                                                 seed=3), out, diagnosed_run="dbg-run")
    assert report.diagnoses == 2 and report.unpatchable == {}
    assert report.patches == {"economics": report.exported} and report.exported > 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == report.exported and all(r["messages"] for r in records)
    # the same kinds as the targeted set (replay share included), by the same builder
    untargeted, original = _kinds(store, "rand"), _kinds(store, "v2")
    assert untargeted.keys() - {"replay"}, untargeted  # targeted-looking patches, not replay alone
    assert set(untargeted) <= set(original) and untargeted.get("replay") == original["replay"]
    # every untargeted patch repairs a twin, never one of the run's own diagnoses
    repaired = store.run("MATCH (p:Patch {patch_set: 'rand'})-[:REPAIRS]->(d:Diagnosis) RETURN d.id AS id")
    assert repaired == []  # the twins are not stored as diagnoses: nothing claims to repair a real failure


def test_twin_keeps_kind_and_counts_and_draws_from_the_chain(store: GraphStore, tmp_path: Path) -> None:
    w = build_world(store)
    evaluate_run(store, tmp_path, w, correct=["growth"])
    run_patch(store, PatchConfig(run="dbg-run", discipline="economics", budget=10), tmp_path,
              scorer_factory=lambda: RuleScorer(w, known=KNOWN))
    [run_id] = {r["run_id"] for r in store.run("MATCH (d:Diagnosis) RETURN d.run AS run_id")}
    diagnoses = list(stored_diagnoses(store, run_id, None).values())
    chain = {"id": "chn_x", "relation_ids": ["r1", "r2", "r3"], "concept_ids": ["a", "b", "c", "d"],
             "relation_types": ["causes", "part_of", "causes"]}
    for d in diagnoses:
        twin = untargeted_twin(d, chain, random.Random(0))
        assert twin.kind == d.kind and twin.chain_id == "chn_x" and twin.id != d.id
        assert len(twin.weak_relations) == min(len(d.weak_relations), 3)
        assert set(twin.weak_relations) <= {"r1", "r2", "r3"} and set(twin.weak_concepts) <= {"a", "b", "c", "d"}
        assert len(twin.weak_concepts) == min(len(d.weak_concepts), 4)


def test_untargeted_twins_never_aim_at_test_chains(store: GraphStore, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from proda.pipelines.debug import control

    w = build_world(store, dev=True)
    evaluate_run(store, tmp_path, w, correct=["growth"])
    run_patch(store, PatchConfig(run="dbg-run", discipline="economics", budget=10), tmp_path,
              scorer_factory=lambda: RuleScorer(w, known=KNOWN))
    drawn: list[str] = []
    real_twin = control.untargeted_twin

    def recording(d: Any, chain: dict[str, Any], rng: random.Random) -> Any:
        drawn.append(chain["id"])
        return real_twin(d, chain, rng)

    monkeypatch.setattr(control, "untargeted_twin", recording)
    for seed in range(20):  # the world's chains are half test: twenty draws would hit one by chance
        write_untargeted(store, PatchConfig(run="dbg-run", patch_set=f"rand{seed}", budget=4, seed=seed),
                         tmp_path / f"u{seed}.jsonl", diagnosed_run="dbg-run")
    test_chains = {ch.id for ch in w.chains.values() if ch.split == "test"}
    assert drawn and not set(drawn) & test_chains
    assert len(set(drawn)) > 1


def test_a_run_without_diagnoses_is_refused(store: GraphStore, tmp_path: Path) -> None:
    w = build_world(store)
    evaluate_run(store, tmp_path, w, correct=["growth"])
    with pytest.raises(InputError, match="no stored diagnosis"):
        write_untargeted(store, PatchConfig(run="dbg-run", patch_set="rand"), tmp_path / "x.jsonl",
                         diagnosed_run="dbg-run")
