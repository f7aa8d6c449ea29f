"""``run_loop`` end to end with a tiny real causal LM on a real FalkorDB: every stage runs, the report
is written from what the graph and the training summaries hold, and a rerun resumes instead of redoing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proda.errors import ConfigError
from proda.pipelines.debug.loop import LoopConfig, run_loop
from proda.schema.store.base import GraphStore
from tests.debug_world import build_world


def test_the_loop_runs_every_stage_and_reports(falkordb_store: GraphStore, tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from tests.tiny_lm import tiny_model

    store = falkordb_store
    build_world(store, v1=False)
    folder = tiny_model(tmp_path / "tiny")
    config = LoopConfig(name="t", benchmark="dbg", base_model=str(folder), v1_steps=2, v2_steps=2, batch_size=4,
                        max_length=256, patch_budget=6, replay_ratio=0.5, learning_rate=1e-2)
    stages: list[str] = []
    report = run_loop(store, config, tmp_path, log=stages.append)
    run_dir = tmp_path / "runs" / "loop" / "t"
    md = (run_dir / "report.md").read_text()
    assert report.evals["v0"]["items"] == report.evals["v1"]["items"] == 3
    assert report.trainings["v1"]["steps"] == 2 and report.trainings["v1"]["records"] > 0
    failed = report.debugger["failed_items"]
    wrong_v1 = 3 - round(report.evals["v1"]["accuracy"] * 3)
    assert failed == wrong_v1  # the Debugger looked at exactly V1's wrong answers
    if report.debugger["patches_in_set"]:
        assert stages[-2:] == ["train v2", "evaluate v2"] and report.trainings["v2"]["records"] == 6
        assert "| V2 (V1 + patches + replay) | 3 |" in md
        assert len((run_dir / "patches.jsonl").read_text().splitlines()) == 6
    else:
        assert failed == 0 and "V2 was not trained" in md
    assert "| V0 (base) | 3 |" in md and "| V1 (Builder data) | 3 |" in md and "## Debugger" in md
    assert json.loads((run_dir / "report.json").read_text())["name"] == "t"
    # the PNG plots are real images, linked from the report
    any_wrong = any(e["accuracy"] < 1 for e in report.evals.values())
    assert report.plots == ["accuracy_per_discipline.png", "failure_by_relation_type.png"] \
        + (["wrong_answers_by_operator.png"] if any_wrong else [])
    for name in report.plots:
        assert (run_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({name})" in md
    # a rerun resumes: nothing is trained, answered or patched again
    again = run_loop(store, config, tmp_path)
    assert again.evals == report.evals
    assert again.debugger["patches_written_now"] in ({}, {"f_refine": 0, "f_cot": 0, "replay": 0})
    assert again.debugger["patches_in_set"] == report.debugger["patches_in_set"]
    with pytest.raises(ConfigError, match="loop name"):
        LoopConfig(name="Bad-Name")


def test_patch_and_export_repairs_a_dev_run_and_skips_an_unpatchable_discipline(
        falkordb_store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Patches may come from a dev-split run (the test split then stays unseen until it measures V2);
    a discipline whose diagnoses yield no patch is named, not fatal."""
    from proda.errors import InputError
    from proda.pipelines.debug import PatchConfig, find_run, stage
    from proda.pipelines.debug.loop import patch_and_export
    from tests.debug_world import RuleScorer, build_world, evaluate_run

    store = falkordb_store
    w = build_world(store, dev=True)
    dev = evaluate_run(store, tmp_path, w, name="dev-run", split="dev")  # D1 answered wrong
    assert dev.items == 1 and dev.correct == 0 and find_run(store, "dev-run").split == "dev"
    loaded: list[int] = []

    def scorer() -> RuleScorer:
        loaded.append(1)
        return RuleScorer(w, known=["price>supply"])  # D1's second hop unknown: a concept gap

    out = tmp_path / "dev.jsonl"
    config = PatchConfig(run="dev-run", patch_set="from_dev", budget=4, replay_ratio=0.25)
    summary = patch_and_export(store, config, tmp_path, out, scorer_factory=scorer)
    assert summary["failed_items"] == 1 and summary["diagnoses"] == {"concept_gap": 1}
    assert summary["exported"] == summary["patches_in_set"] == 4 == len(out.read_text().splitlines())
    assert summary["unpatchable"] == {} and loaded == [1]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["kind"] for r in records} == {"f_refine", "replay"}

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise InputError("economics: no patch could be made")

    monkeypatch.setattr(stage, "run_patch", refuse)
    none = patch_and_export(store, PatchConfig(run="dev-run", patch_set="other"), tmp_path, tmp_path / "no.jsonl",
                            scorer_factory=scorer)
    assert none["unpatchable"] == {"economics": "economics: no patch could be made"}
    assert none["exported"] == 0 and not (tmp_path / "no.jsonl").exists()
