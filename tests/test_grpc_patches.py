"""The Debugger as a durable operation (GeneratePatches), end to end: a real in-process server, real
worker processes, a real FalkorDB holding the hand-built debug world of tests/debug_world.py, and an
evaluation run whose model is the tiny real causal LM of tests/tiny_lm.py, which the worker loads to
answer the probes (as ``proda patch`` does).

Run ``dbg-run`` failed T1 and T2 (T3 right); run ``all-right`` answered every item right.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from proda.config import Settings
from proda.errors import InputError, NotFound
from proda.pipelines.debug.patch import set_id
from proda.schema.store import FalkorDBStore, ServerInfo
from proda.services.client import ProdaClient
from proda.services.operations import OperationEvent, OperationState
from proda.services.server import BackgroundServer
from proda.v1 import synthesis_pb2 as spb
from proda.v1.synthesis_pb2_grpc import SynthesisServiceStub
from tests.debug_world import World, build_world, evaluate_run

pytest.importorskip("transformers")


@dataclass
class Env:
    server: BackgroundServer
    client: ProdaClient
    store: FalkorDBStore
    world: World
    run_id: str
    model: Path


# its own graph, not conftest's per-test falkordb_store: the module's one server serves it to every test
@pytest.fixture(scope="module")
def env(falkordb_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from tests.tiny_lm import tiny_model

    store = FalkorDBStore("127.0.0.1", falkordb_server.port, f"grpc_patches_{uuid.uuid4().hex[:8]}",
                          password=falkordb_server.password)
    store.ensure_schema()
    tmp = tmp_path_factory.mktemp("grpc-patches")
    world = build_world(store)
    model = tiny_model(tmp / "tiny")
    run = evaluate_run(store, tmp, world, correct=["growth"], model=str(model))
    evaluate_run(store, tmp, world, correct=["surplus", "shortage", "growth"], name="all-right")
    settings = Settings(home=tmp / "home", grpc_port=0, grpc_max_jobs=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")  # the worker's torch: one thread on a small shared machine
        with BackgroundServer(settings, store) as server, ProdaClient(server.address) as client:
            yield Env(server, client, store, world, run.run_id, model)
    store.clear()
    store.close()


def _progress(events: list[tuple[OperationEvent, Any]]) -> list[tuple[int, int]]:
    return [(e.payload["done"], e.payload["total"]) for e, _ in events if e.kind == "progress"]


def _count(store: FalkorDBStore, label: str) -> int:
    return int(store.run(f"MATCH (n:{label}) RETURN count(n) AS n")[0]["n"])


def test_diagnose_then_patch_then_skip_what_is_complete(env: Env) -> None:
    # diagnose only: the worker loads the run's own model (the tiny LM) and probes each failed item
    record = env.client.generate_patches("dbg-run", diagnose_only=True)
    assert record.kind == "synthesis.generate_patches"
    events = list(env.client.watch(record.id, timeout_s=300))
    final = events[-1][1]
    assert final is not None and final.state == OperationState.SUCCEEDED, final
    diagnosed = final.result or {}
    assert (diagnosed["run_id"], diagnosed["failures"], diagnosed["diagnose_only"]) == (env.run_id, 2, True)
    assert not diagnosed["written"] and diagnosed["patches"] == 0 and diagnosed["patch_sets"] == []
    kinds = diagnosed["diagnoses_per_kind"]
    assert sum(kinds.values()) == 2 and set(kinds) <= {"concept_gap", "reasoning_deficit"}
    stored = env.store.run("MATCH (d:Diagnosis) RETURN d.kind AS kind, count(d) AS n")
    assert {r["kind"]: r["n"] for r in stored} == kinds
    assert _count(env.store, "Patch") == 0
    progress = _progress(events)
    assert progress[0] == (0, 2) and progress[-1] == (2, 2)

    # the patch set, by run id, from the stored diagnoses: every PatchConfig field is a setting
    result = env.client.run_job(env.client.generate_patches(
        env.run_id, discipline="economics", options={"budget": 8, "replay_ratio": 0.25, "patch_set": "v2"}),
        timeout_s=300)
    [patch_set] = result["patch_sets"]
    assert patch_set == {"id": set_id("v2", "economics"), "discipline": "economics", "status": "written",
                         "patches": 8, "shortfall": None}
    per_kind = result["patches_per_kind"]
    assert result["written"] and result["patches"] == sum(per_kind.values()) == 8 and per_kind["replay"] == 2
    assert result["diagnoses_per_kind"] == kinds and result["skipped"] == []
    in_graph = env.store.run("MATCH (p:Patch) RETURN p.kind AS kind, count(p) AS n")
    assert {r["kind"]: r["n"] for r in in_graph} == {k: n for k, n in per_kind.items() if n}
    assert env.store.run("MATCH (s:PatchSet) RETURN s.id AS id") == [{"id": patch_set["id"]}]

    # again: the complete set is skipped with the reason, nothing is written; force replaces it
    again = env.client.run_job(env.client.generate_patches(
        "dbg-run", options={"budget": 8, "replay_ratio": 0.25}), timeout_s=300)
    assert not again["written"] and again["patches"] == 0
    [skipped] = again["skipped"]
    assert (skipped["discipline"], skipped["status"]) == ("economics", "done")
    assert "already complete (8 patches)" in skipped["reason"] and again["message"].startswith("nothing written")
    forced = env.client.run_job(env.client.generate_patches(
        "dbg-run", options={"budget": 6, "replay_ratio": 0.0, "force": True}), timeout_s=300)
    assert forced["patches"] == 6 and forced["patches_per_kind"].get("replay", 0) == 0
    assert _count(env.store, "Patch") == 6  # the replaced set left nothing behind


def test_a_run_without_failures_succeeds_and_writes_nothing(env: Env) -> None:
    before = _count(env.store, "Patch")
    record = env.client.generate_patches("all-right")
    final = env.client.wait(record.id, 120)
    assert final.state == OperationState.SUCCEEDED, final
    result = final.result or {}
    assert (result["failures"], result["written"], result["patches"], result["patch_sets"]) == (0, False, 0, [])
    [skipped] = result["skipped"]
    assert skipped["status"] == "no_failures" and "no failed items in economics" in skipped["reason"]
    assert "nothing written" in result["message"]
    assert _count(env.store, "Patch") == before


def test_bad_input_is_invalid_argument_and_an_unknown_run_not_found(env: Env) -> None:
    with pytest.raises(InputError, match="budget 0: a patch set needs at least 1 example"):
        env.client.generate_patches("dbg-run", options={"budget": 0})
    with pytest.raises(InputError, match="colour: unknown setting"):
        env.client.generate_patches("dbg-run", options={"colour": "blue"})
    with pytest.raises(InputError, match="replay_ratio"):
        env.client.generate_patches("dbg-run", options={"replay_ratio": 1.5})
    with pytest.raises(InputError, match=r"model '/no/such/model': no model folder"):
        env.client.generate_patches("dbg-run", options={"model": "/no/such/model"})
    with pytest.raises(InputError, match="eval_run_id: give the evaluation run"):
        env.client.generate_patches("")
    with grpc.insecure_channel(env.server.address) as channel, pytest.raises(grpc.RpcError) as caught:
        SynthesisServiceStub(channel).GeneratePatches(spb.GeneratePatchesRequest(discipline="economics"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "eval_run_id" in caught.value.details()

    # what only the graph can tell: the operation fails with the job's own error and code
    missing = env.client.wait(env.client.generate_patches("nope").id, 120)
    assert missing.state == OperationState.FAILED and missing.error is not None
    assert missing.error.code == "NOT_FOUND" and "no evaluation run 'nope'" in missing.error.message
    with pytest.raises(NotFound, match="no evaluation run 'nope'"):
        env.client.run_job(env.client.generate_patches("nope"), timeout_s=120)
    with pytest.raises(InputError, match="answered no item in discipline 'physics'"):
        env.client.run_job(env.client.generate_patches("dbg-run", discipline="physics"), timeout_s=120)
