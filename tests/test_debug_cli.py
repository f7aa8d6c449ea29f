"""``proda patch`` as a user runs it (the real console script in subprocesses), and the Ray executor.

The subprocesses reach the session's FalkorDB by URL, on the test's own graph, which the test fills
in-process: a world, its benchmark, a V1 dataset and an evaluation run whose model is a tiny real
causal LM, which the command loads to answer the probes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from proda.pipelines.debug import PatchConfig, run_patch
from proda.schema.store import FalkorDBStore, ServerInfo
from proda.schema.store.base import GraphStore
from tests.console import cli_env, proda
from tests.debug_world import RuleScorer, build_world, evaluate_run, never


def _url(info: ServerInfo) -> str:
    return f"falkordb://:{info.password}@127.0.0.1:{info.port}"


def side_by_side(*commands: tuple[str, ...], home: Path, graph: str, url: str
                 ) -> list[subprocess.CompletedProcess[str]]:
    """Independent ``proda`` commands at once, on the graph at ``url`` (each start costs a Python start-up)."""
    procs = [subprocess.Popen([sys.executable, "-m", "proda.cli.main", *args], env=cli_env(home, graph, url),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for args in commands]
    out = []
    for args, proc in zip(commands, procs, strict=True):
        stdout, stderr = proc.communicate(timeout=180)
        out.append(subprocess.CompletedProcess(list(args), proc.returncode, stdout, stderr))
    return out


def test_patch_command_end_to_end_and_its_errors(falkordb_store: FalkorDBStore, falkordb_server: ServerInfo,
                                                 tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from tests.tiny_lm import tiny_model

    store = falkordb_store
    w = build_world(store)
    folder = tiny_model(tmp_path / "tiny")
    evaluate_run(store, tmp_path, w, correct=["growth"], model=str(folder))  # T1 and T2 failed
    evaluate_run(store, tmp_path, w, correct=["surplus", "shortage", "growth"], name="all-right")
    home, graph, url = tmp_path / "home", store.graph_name, _url(falkordb_server)
    home.mkdir()
    out = tmp_path / "v2.jsonl"

    first = proda("patch", "--run", "dbg-run", "--all", "--budget", "8", "--replay-ratio", "0.25", "--out", str(out),
                  "--json", home=home, graph=graph, url=url)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    [shard] = report["shards"]
    assert report["failures"] == 2 and report["patches"] == 8 and shard["status"] == "written"
    assert shard["concept_gap"] + shard["reasoning_deficit"] == 2 and shard["replay"] == 2
    assert len(out.read_text().splitlines()) == 8 and report["exported"] == 8
    assert store.run("MATCH (p:Patch) RETURN count(p) AS n") == [{"n": 8}]

    again, diagnosed, nothing, missing, zero, which, physics = side_by_side(
        ("patch", "--run", "dbg-run", "--all", "--budget", "8", "--replay-ratio", "0.25"),
        ("patch", "--run", "dbg-run", "--discipline", "economics", "--diagnose-only"),
        ("patch", "--run", "all-right", "--all"),
        ("patch", "--run", "nope", "--all"),
        ("patch", "--run", "dbg-run", "--all", "--budget", "0"),
        ("patch", "--run", "dbg-run"),
        ("patch", "--run", "dbg-run", "--discipline", "physics"),
        home=home, graph=graph, url=url)
    assert again.returncode == 0, again.stderr
    assert "patch set 'v2' is already complete (8 patches); skipped" in again.stdout
    assert diagnosed.returncode == 0, diagnosed.stderr
    assert "diagnoses in economics" in diagnosed.stdout and w.items["T1"].id in diagnosed.stdout
    assert nothing.returncode == 0, nothing.stderr
    assert "no failed items in economics: nothing to patch" in nothing.stdout
    assert missing.returncode == 4 and "no evaluation run 'nope'" in missing.stderr
    assert zero.returncode == 2 and "budget 0: a patch set needs at least 1 example" in zero.stderr
    assert which.returncode == 2 and "give --discipline D for one discipline or --all" in which.stderr
    assert physics.returncode == 2 and "answered no item in discipline 'physics'" in physics.stderr
    assert store.run("MATCH (p:Patch) RETURN count(p) AS n") == [{"n": 8}]  # the failed commands wrote nothing


def test_debug_diagnose_counts_kinds_and_names_the_weakest_concepts_and_relations(
        falkordb_store: FalkorDBStore, falkordb_server: ServerInfo, tmp_path: Path) -> None:
    """The same diagnosis as ``proda patch --diagnose-only``: here the stand-in model's diagnoses are stored
    first (T1 a reasoning deficit, T2 a concept gap on demand -causes-> shortage), so the command reuses
    them and the weakest nodes are known exactly."""
    store = falkordb_store
    w = build_world(store, v1=False)
    evaluate_run(store, tmp_path, w, correct=["growth"])
    evaluate_run(store, tmp_path, w, correct=["surplus", "shortage", "growth"], name="all-right")
    run_patch(store, PatchConfig(run="dbg-run"), tmp_path, diagnose_only=True,
              scorer_factory=lambda: RuleScorer(w, known=["price>supply", "supply>surplus", "tax>demand"]))
    home, graph, url = tmp_path / "home", store.graph_name, _url(falkordb_server)
    home.mkdir()

    as_json, table, nothing, missing, physics, both = side_by_side(
        ("debug", "diagnose", "--run", "dbg-run", "--json"),
        ("debug", "diagnose", "-r", "dbg-run", "-d", "economics", "--top", "3"),
        ("debug", "diagnose", "--run", "all-right"),
        ("debug", "diagnose", "--run", "nope"),
        ("debug", "diagnose", "--run", "dbg-run", "--discipline", "physics"),
        ("patch", "--run", "dbg-run", "--all", "--diagnose-only", "--json"),
        home=home, graph=graph, url=url)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["failures"] == 2 and report["kinds"] == {"concept_gap": 1, "reasoning_deficit": 1}
    [disc] = report["disciplines"]
    assert (disc["discipline"], disc["status"], disc["reused"], disc["probed_now"]) == ("economics", "diagnosed", 2, 0)
    worst = report["weakest_relations"][0]
    assert (worst["id"], worst["label"], worst["concept_gap"]) == (w.r["demand>shortage"].id,
                                                                  "demand -causes-> shortage", 1)
    assert {c["label"] for c in report["weakest_concepts"][:2]} == {"demand", "shortage"}
    assert {c["label"]: c["reasoning_deficit"] for c in report["weakest_concepts"]}["supply"] == 1
    assert sorted(d["item_id"] for d in report["diagnoses"]) == sorted([w.items["T1"].id, w.items["T2"].id])
    assert table.returncode == 0, table.stderr
    assert "weakest concepts (L1)" in table.stdout and "weakest relations (L2 edges)" in table.stdout
    assert "demand -causes-> shortage" in table.stdout and "1 concept gap, 1 reasoning deficit" in table.stdout
    assert nothing.returncode == 0 and "no failed items" in nothing.stdout, nothing.stderr
    assert missing.returncode == 4 and "no evaluation run 'nope'" in missing.stderr
    assert physics.returncode == 2 and "answered no item in discipline 'physics'" in physics.stderr
    assert both.returncode == 0, both.stderr  # proda patch --diagnose-only: the same diagnoses
    assert [s["concept_gap"] + s["reasoning_deficit"] for s in json.loads(both.stdout)["shards"]] == [2]
    assert store.run("MATCH (d:Diagnosis) RETURN count(d) AS n") == [{"n": 2}]
    assert store.run("MATCH (p:Patch) RETURN count(p) AS n") == [{"n": 0}]


def test_a_run_whose_items_were_deleted(falkordb_store: FalkorDBStore, falkordb_server: ServerInfo,
                                        tmp_path: Path) -> None:
    store = falkordb_store
    w = build_world(store, v1=False)
    evaluate_run(store, tmp_path, w)
    store.run("MATCH (i:BenchmarkItem) DETACH DELETE i", read_only=False)
    gone = proda("patch", "--run", "dbg-run", "--all", home=tmp_path, graph=store.graph_name,
                 url=_url(falkordb_server))
    assert gone.returncode == 2 and "none of them is in the graph any more" in gone.stderr


def test_ray_shards_write_the_same_patch_set(falkordb_store: GraphStore, tmp_path: Path) -> None:
    """Diagnoses are stored first (the Ray worker then loads no model), then the set is written by a worker."""
    pytest.importorskip("ray")
    store = falkordb_store
    w = build_world(store)
    evaluate_run(store, tmp_path, w, correct=["growth"])
    config = PatchConfig(run="dbg-run", budget=9, replay_ratio=0.2)
    run_patch(store, config, tmp_path, diagnose_only=True,
              scorer_factory=lambda: RuleScorer(w, known=["price>supply", "supply>surplus", "tax>demand"]))
    local = run_patch(store, config, tmp_path, scorer_factory=never)
    ids = store.run("MATCH (p:Patch) RETURN p.id AS id ORDER BY id")
    via_ray = run_patch(store, PatchConfig(run="dbg-run", budget=9, replay_ratio=0.2, executor="ray", force=True),
                        tmp_path)
    assert [s.status for s in via_ray.shards] == ["written"] and via_ray.patches == local.patches == 9
    assert store.run("MATCH (p:Patch) RETURN p.id AS id ORDER BY id") == ids
