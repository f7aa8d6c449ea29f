"""The shard runner: one function per shard, run in this process or on Ray, with its environment.

Locally a shard gets the caller's store (left open), progress callback and injected objects; on a
Ray worker it gets its own connection to the same graph, no progress callback, and a resource cache
that lives as long as the worker process.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from proda.errors import ConfigError
from proda.pipelines.debug.config import PatchConfig
from proda.pipelines.extract.config import ExtractConfig
from proda.pipelines.refine.config import RefineConfig
from proda.pipelines.shards import ShardEnv, ShardOutcome, ShardReport, _run_in_worker, run_shards
from proda.pipelines.tester.config import BenchConfig
from proda.schema import Chunk, Document
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter


class Closable:
    """A heavy resource stand-in that records whether it was closed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    def close(self) -> None:
        self.closed = True


def economics_chunks(store: GraphStore, n: int) -> None:
    doc = Document(source_id="economics/rates", discipline="economics", title="Rates")
    GraphWriter(store).write([doc, *(Chunk(document_id=doc.id, ordinal=i, discipline="economics",
                                           text=f"Interest rates reduce borrowing ({i}).") for i in range(n))])


def pending(store: GraphStore) -> int:
    return len(store.query("chunks_to_extract", {"key": "k", "discipline": "economics"}))


# -- executor names ------------------------------------------------------------------------------


def test_unknown_executor_is_refused_naming_the_value_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'slurm'.*local, ray"):
        run_shards("slurm", lambda spec, env: spec, [1], lambda spec, result: None)


@pytest.mark.parametrize("make", [
    lambda: ExtractConfig(executor="slurm"),
    lambda: BenchConfig(executor="slurm"),
    lambda: PatchConfig(run="evr_x", executor="slurm"),
    lambda: RefineConfig(source="keep", executor="slurm"),
])
def test_every_stage_config_validates_its_executor_the_same_way(make: Any) -> None:
    with pytest.raises(ConfigError, match=r"unknown executor 'slurm': use one of local, ray"):
        make()


def test_stage_configs_from_recipes_accept_ray() -> None:
    assert ExtractConfig.from_dict({"executor": "ray"}).executor == "ray"
    assert RefineConfig.from_dict({"source": "keep", "executor": "ray"}).executor == "ray"


# -- local ---------------------------------------------------------------------------------------


def test_local_shards_use_the_callers_store_progress_and_injected_objects(falkordb_store: GraphStore) -> None:
    economics_chunks(falkordb_store, 3)
    injected = Closable("injected")
    made: list[Closable] = []
    seen: list[tuple[str, int]] = []

    def make() -> Closable:
        made.append(Closable("made"))
        return made[-1]

    def shard(spec: str, env: ShardEnv[Any]) -> tuple[str, str, str, int]:
        assert env.store is falkordb_store
        assert env.progress is not None
        env.progress(spec, pending(env.store))
        return (spec, env.resource("injected", lambda: Closable("never")).name,
                env.resource("model", make).name, id(env.resource("model", make)))

    results: dict[str, tuple[str, str, str, int]] = {}
    with ShardEnv(falkordb_store, lambda d, n: seen.append((d, n)), {"injected": injected, "spare": 1}) as env:
        run_shards("local", shard, ["a", "b"], lambda spec, r: results.__setitem__(spec, r), env)
        assert env.used("model") is made[0] and env.used("injected") is injected
        assert env.used("spare") is None  # given, but no shard asked for it
    assert [r[:3] for r in results.values()] == [("a", "injected", "made"), ("b", "injected", "made")]
    assert len(made) == 1 and results["a"][3] == results["b"][3]  # made once for both shards
    assert seen == [("a", 3), ("b", 3)]
    assert made[0].closed and not injected.closed  # the env closes what it made, never what it was given
    assert pending(falkordb_store) == 3  # the runner left the caller's store open


def test_a_stage_without_a_graph_runs_and_its_store_is_refused() -> None:
    out: list[int] = []
    run_shards("local", lambda spec, env: spec * 2, [1, 2], lambda spec, r: out.append(r))
    assert out == [2, 4]
    with pytest.raises(RuntimeError, match="without a graph store"):
        _ = ShardEnv().store


def test_shard_errors_reach_the_caller() -> None:
    def shard(spec: int, env: ShardEnv[Any]) -> int:
        raise ValueError(f"shard {spec} broke")

    with pytest.raises(ValueError, match="shard 1 broke"):
        run_shards("local", shard, [1], lambda spec, r: None)


def test_report_collects_results_and_lists_stopped_shards() -> None:
    report: ShardReport[ShardOutcome] = ShardReport()
    told: list[ShardOutcome] = []
    results = {1: ShardOutcome(), 2: ShardOutcome(stopped="budget: 1 USD")}
    run_shards("local", lambda spec, env: results[spec], [1, 2], report.collect(told.append))
    assert report.shards == told == [results[1], results[2]]
    assert report.stopped == [results[2]]


# -- in a worker ---------------------------------------------------------------------------------


class RecordingSpec:
    """A store spec whose connections record being closed (a worker opens its own)."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.closed: list[bool] = []

    def open(self) -> GraphStore:
        spec = self

        class Connection:
            def query(self, name: str, params: dict[str, Any]) -> Any:
                return spec.store.query(name, params)

            def close(self) -> None:
                spec.closed.append(True)

        return Connection()  # type: ignore[return-value]


def test_worker_opens_and_closes_its_own_store_and_per_shard_resources(falkordb_store: GraphStore) -> None:
    economics_chunks(falkordb_store, 2)
    spec = RecordingSpec(falkordb_store)
    budgets: list[Closable] = []

    def shard(name: str, env: ShardEnv[Any]) -> tuple[int, bool, Closable, Closable]:
        budget = env.resource("budget", lambda: Closable(name), reuse=False)
        budgets.append(budget)
        model = env.resource(("model", "tiny"), lambda: Closable("model"))
        return pending(env.store), env.progress is None, budget, model

    first = _run_in_worker(shard, "a", spec)  # type: ignore[arg-type]
    second = _run_in_worker(shard, "b", spec)  # type: ignore[arg-type]
    assert first[:2] == second[:2] == (2, True)
    assert spec.closed == [True, True]  # one connection per shard, closed after it
    assert [b.name for b in budgets] == ["a", "b"] and all(b.closed for b in budgets)  # fresh per shard
    assert first[3] is second[3] and not first[3].closed  # the model outlives the shard in its process


# -- Ray -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ray_shards_open_their_own_connection_and_cache_per_process(falkordb_store: GraphStore,
                                                                    tmp_path: Path) -> None:
    """Each Ray shard reaches the caller's graph, has no progress callback, and a worker makes a heavy
    resource once for all the shards it runs (while a per-shard one is fresh every time)."""
    pytest.importorskip("ray")
    economics_chunks(falkordb_store, 4)
    token = uuid.uuid4().hex  # a new key: nothing cached from other runs in these workers

    # nested, so Ray ships the function itself: workers cannot import the test module
    def shard(spec: int, env: ShardEnv[Any]) -> tuple[int, int, bool, str, str]:
        import os as _os
        import uuid as _uuid

        model = env.resource(("model", token), lambda: _uuid.uuid4().hex)
        budget = env.resource(("budget", token), lambda: _uuid.uuid4().hex, reuse=False)
        return _os.getpid(), len(env.store.query("chunks_to_extract", {"key": "k", "discipline": "economics"})), \
            env.progress is None, model, budget

    results: dict[int, tuple[int, int, bool, str, str]] = {}
    specs = list(range(3 * (os.cpu_count() or 1) + 3))  # more shards than workers: some share a process
    with ShardEnv(falkordb_store, lambda *a: pytest.fail("no progress on Ray"),
                  {("model", token): "driver's"}) as env:
        run_shards("ray", shard, specs, lambda spec, r: results.__setitem__(spec, r), env)
        assert env.used(("model", token)) is None  # nothing ran in the caller's process
    assert sorted(results) == specs
    assert {(r[1], r[2]) for r in results.values()} == {(4, True)}
    by_pid: dict[int, set[str]] = {}
    for pid, _, _, model, _ in results.values():
        by_pid.setdefault(pid, set()).add(model)
    assert all(len(models) == 1 for models in by_pid.values())  # once per worker process
    assert "driver's" not in {r[3] for r in results.values()}  # the caller's objects stay in the caller
    assert len(by_pid) < len(specs)
    assert len({r[4] for r in results.values()}) == len(specs)  # per-shard resources are never shared
    assert pending(falkordb_store) == 4  # the caller's store is still open
