"""Job results are plain JSON by construction: every job kind the server registers runs once, over a
real in-process server and real worker processes, on a FRESH graph (the first run of a stage on a
graph is the one whose report carries the most: a benchmark build's first run splits the chains),
and its result must come back SUCCEEDED and read back through ``json`` as itself.

The kinds that need a model get the tiny real causal LM of tests/tiny_lm.py; they are skipped where
transformers is not installed. A kind added to the registry without a case here fails
:func:`test_every_registered_kind_has_a_case`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from proda.config import Settings
from proda.pipelines.build import BuildConfig, build_examples
from proda.pipelines.tester.split import SplitReport
from proda.schema.store import FalkorDBStore
from proda.services import jobs
from proda.services.client import ProdaClient
from proda.services.jobs import JobContext, JobKind, JobSpec, ResultNotJSON, default_registry, result_text, to_json
from proda.services.operations import OperationRecord, OperationState
from proda.services.server import BackgroundServer
from tests.builder_world import builder_graph
from tests.eval_world import benchmark
from tests.extract_world import corpus
from tests.tester_world import economics

# a few records, one optimizer step: enough for a training run to write its summary
TINY_TRAINING = {"max_length": 128, "per_device_train_batch_size": 2, "logging_steps": 1, "max_records": 4,
                 "max_steps": 1, "save_steps": 1}


@dataclass
class Case:
    """How to give one job kind a fresh graph to work on, and how a client starts it."""

    load: Callable[[FalkorDBStore, Path], None]
    start: Callable[[ProdaClient, Path], OperationRecord]
    needs_model: bool = False


def _extraction_corpus(store: FalkorDBStore, _: Path) -> None:
    corpus(store)


def _unsplit_economics(store: FalkorDBStore, _: Path) -> None:
    # no chain has a split yet: the first build assigns them, which is what its report counts
    economics(split=None).load(store)


def _builder_graph(store: FalkorDBStore, _: Path) -> None:
    builder_graph(store)


def _benchmark(store: FalkorDBStore, _: Path) -> None:
    benchmark(store)


def _training_dataset(store: FalkorDBStore, _: Path) -> None:
    builder_graph(store)
    build_examples(store, BuildConfig(dataset="tiny"))


def _failed_run(store: FalkorDBStore, model: Path) -> None:
    from tests.debug_world import build_world, evaluate_run

    world = build_world(store)
    evaluate_run(store, model.parent, world, correct=["growth"], model=str(model))


CASES: dict[str, Case] = {
    jobs.CHECK_STRUCTURE: Case(_unsplit_economics, lambda client, _: client.check_structure()),
    jobs.EXTRACT_KNOWLEDGE: Case(_extraction_corpus, lambda client, _: client.extract_knowledge(backend="heuristic")),
    jobs.BUILD_BENCHMARK: Case(_unsplit_economics, lambda client, _: client.build_benchmark()),
    jobs.BUILD_TRAINING_DATA: Case(_builder_graph, lambda client, _: client.build_training_data(
        options={"dataset": "fresh"})),
    jobs.EVALUATE_MODEL: Case(_benchmark, lambda client, model: client.evaluate_model(
        str(model), "toy", options={"limit": 2}), needs_model=True),
    jobs.GENERATE_PATCHES: Case(_failed_run, lambda client, _: client.generate_patches(
        "dbg-run", options={"budget": 4}), needs_model=True),
    jobs.TRAIN_MODEL: Case(_training_dataset, lambda client, model: client.train_model(
        str(model), "tiny", options={**TINY_TRAINING, "run_name": "fresh"}), needs_model=True),
}


def test_every_registered_kind_has_a_case() -> None:
    assert set(default_registry().names()) <= set(CASES)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tests.tiny_lm import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny") / "tiny")


def _reads_back(value: Any) -> bool:
    return bool(json.loads(json.dumps(value, allow_nan=False)) == value)


@pytest.mark.parametrize("kind", default_registry().names())
def test_each_kind_succeeds_on_a_fresh_graph_with_a_json_result(
        kind: str, falkordb_store: FalkorDBStore, tmp_path: Path, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[kind]
    model = request.getfixturevalue("model") if case.needs_model else tmp_path / "no-model"
    case.load(falkordb_store, model)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the worker's torch: one thread on a small shared machine
    settings = Settings(home=tmp_path / "home", grpc_port=0, grpc_max_jobs=1)
    with BackgroundServer(settings, falkordb_store) as server, ProdaClient(server.address) as client:
        started = case.start(client, model)
        assert started.kind == kind
        done = client.wait(started.id, 300)
        stored = server.server.supervisor.store.get(started.id)
    assert done.state == OperationState.SUCCEEDED, done.error
    assert done.result and _reads_back(done.result)
    assert stored.result == done.result and _reads_back(stored.result)  # what the server keeps, too
    if kind == jobs.BUILD_BENCHMARK:
        # the first build split the four unsplit chains, and says so with split names as keys
        assert sum(done.result["split"]["assigned"].values()) == 4
        assert set(done.result["split"]["assigned"]) <= {"train", "dev", "test"}


def test_a_second_benchmark_build_on_the_same_graph_succeeds_too(falkordb_store: FalkorDBStore,
                                                                 tmp_path: Path) -> None:
    _unsplit_economics(falkordb_store, tmp_path)
    settings = Settings(home=tmp_path / "home", grpc_port=0, grpc_max_jobs=1)
    with BackgroundServer(settings, falkordb_store) as server, ProdaClient(server.address) as client:
        first = client.run_job(client.build_benchmark(), timeout_s=120)
        second = client.run_job(client.build_benchmark(), timeout_s=120)
    assert sum(first["split"]["assigned"].values()) == 4 and second["split"]["assigned"] == {}
    assert _reads_back(first) and _reads_back(second)


# --------------------------------------------------------------------------------------------------
# the conversion, and the check every result passes
# --------------------------------------------------------------------------------------------------
class Colour(Enum):
    RED = "red"


@dataclass
class Shard:
    discipline: str
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    path: Path = Path("/runs/x")
    tags: frozenset[str] = frozenset({"b", "a"})


def test_to_json_turns_reports_into_values_that_read_back_as_themselves() -> None:
    split = SplitReport(rule="hash")
    split.assigned.update({"test": 3, "dev": 1})
    shard = Shard("economics", Counter({("economics", "test"): 2}))
    report = {"split": split, "shards": [shard], "colour": Colour.RED, "ratio": float("nan"), 7: (1, 2.5)}
    value = to_json(report)
    assert value == {"split": {"assigned": {"test": 3, "dev": 1}, "pinned": 0, "rule": "hash"},
                     "shards": [{"discipline": "economics", "counts": {"economics/test": 2}, "path": "/runs/x",
                                 "tags": ["a", "b"]}],
                     "colour": "red", "ratio": None, "7": [1, 2.5]}
    assert _reads_back(value)
    with pytest.raises(TypeError, match=r"result\.thing: a object has no JSON form"):
        to_json({"thing": object()})


def test_result_text_refuses_what_json_would_not_read_back_naming_the_kind() -> None:
    assert json.loads(result_text("k", {"a": [1, "x", None, 2.5]})) == {"a": [1, "x", None, 2.5]}
    for result, where in (({"split": {"assigned": Counter({("test", 3): 1})}}, r"result\.split\.assigned has a key "
                                                                                r"of type tuple"),
                          ({"n": float("inf")}, r"result\.n is inf"), ({"t": (1, 2)}, r"result\.t is a tuple"),
                          ({1: "x"}, "a key of type int")):
        with pytest.raises(ResultNotJSON, match=rf"job kind synthesis\.x returned .*{where}"):
            result_text("synthesis.x", result)
    with pytest.raises(ResultNotJSON, match="job kind k returned a list, not a JSON object"):
        result_text("k", [1])


NOT_JSON = "test.not_json"


class NoSpec(JobSpec):
    pass


def not_json(spec: dict[str, Any], job: JobContext) -> dict[str, Any]:
    """Test job: returns what ``dataclasses.asdict`` makes of a split report (a Counter keyed by tuples)."""
    return {"split": {"assigned": Counter({("test", 3): 1})}}


def test_a_kind_returning_no_json_fails_loudly_naming_the_kind(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    registry = default_registry()
    registry.register(JobKind(NOT_JSON, f"{__name__}:not_json", NoSpec, "test job"))
    settings = Settings(home=tmp_path / "home", grpc_port=0, grpc_max_jobs=1)
    with BackgroundServer(settings, falkordb_store, registry=registry) as server, \
            ProdaClient(server.address) as client:
        record = server.run_coroutine(server.server.supervisor.submit(NOT_JSON, {}, None), 10)
        failed = client.wait(record.id, 60)
    assert failed.state == OperationState.FAILED and failed.error is not None and failed.result is None
    assert failed.error.code == "INTERNAL" and not failed.error.resumable
    assert f"job kind {NOT_JSON} returned a result that is not plain JSON" in failed.error.message
    assert "result.split.assigned has a key of type tuple" in failed.error.message



def test_a_nul_in_any_setting_is_refused_before_the_job_starts(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    from proda.errors import InputError

    settings = Settings(home=tmp_path / "home", grpc_port=0, grpc_max_jobs=0)  # nothing would run anyway
    with BackgroundServer(settings, falkordb_store) as server, ProdaClient(server.address) as client:
        with pytest.raises(InputError, match="discipline: holds a NUL character"):
            client.check_structure("econ\x00omics")
        with pytest.raises(InputError, match=r"families\[1\]: holds a NUL character"):
            client.build_training_data(options={"families": ["statement", "re\x00call"]})
        assert not list(client.list_operations())
