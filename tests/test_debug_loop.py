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
    # a rerun resumes: nothing is trained, answered or patched again
    again = run_loop(store, config, tmp_path)
    assert again.evals == report.evals
    assert again.debugger["patches_written_now"] in ({}, {"f_refine": 0, "f_cot": 0, "replay": 0})
    assert again.debugger["patches_in_set"] == report.debugger["patches_in_set"]
    with pytest.raises(ConfigError, match="loop name"):
        LoopConfig(name="Bad-Name")
