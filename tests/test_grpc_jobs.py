"""Builder, evaluation and training as durable operations, end to end: a real in-process server, real
worker processes, a real FalkorDB and the tiny random model of tests/tiny_lm.py, so every job here
really builds, evaluates or trains.

The graph holds the Builder's toy economics graph (tests/builder_world.py) and eight benchmark items on
two-step chains (tests/eval_world.py); the dataset ``tiny`` is built up front so training tests do
not depend on the Builder test.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from proda.config import Settings
from proda.errors import InputError, NotFound
from proda.pipelines.build import BuildConfig, build_examples
from proda.schema.store import FalkorDBStore, ServerInfo
from proda.services.client import ProdaClient
from proda.services.operations import OperationEvent, OperationState
from proda.services.server import BackgroundServer
from proda.training.evaluate import EvalConfig
from proda.v1 import training_pb2 as tpb
from proda.v1.training_pb2_grpc import TrainingServiceStub
from tests.builder_world import builder_graph
from tests.eval_world import benchmark
from tests.grpc_world import gone
from tests.tiny_lm import tiny_model

transformers = pytest.importorskip("transformers")
pytest.importorskip("trl")

# small and fast: a few records of at most 256 tokens, batch 4, a high learning rate so the loss moves
TINY_TRAINING = {"max_length": 256, "per_device_train_batch_size": 4, "learning_rate": 1e-2, "logging_steps": 1,
                 "max_records": 16}


@dataclass
class Env:
    server: BackgroundServer
    client: ProdaClient
    store: FalkorDBStore
    model: Path
    home: Path


# its own graph, not conftest's per-test falkordb_store: the module's one server serves it to every test
@pytest.fixture(scope="module")
def env(falkordb_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    store = FalkorDBStore("127.0.0.1", falkordb_server.port, f"grpc_jobs_{uuid.uuid4().hex[:8]}",
                          password=falkordb_server.password)
    store.ensure_schema()
    builder_graph(store)
    benchmark(store)
    build_examples(store, BuildConfig(dataset="tiny"))
    tmp = tmp_path_factory.mktemp("grpc-jobs")
    model = tiny_model(tmp / "tiny")
    settings = Settings(home=tmp / "home", grpc_port=0, grpc_max_jobs=2)
    # workers inherit the environment: one torch thread trains the tiny model about 8x faster on a
    # small shared machine than threads that contend for its cores
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        with BackgroundServer(settings, store) as server, ProdaClient(server.address) as client:
            yield Env(server, client, store, model, settings.home)
    store.clear()
    store.close()


def _progress(events: list[tuple[OperationEvent, Any]]) -> list[tuple[int, int]]:
    return [(e.payload["done"], e.payload["total"]) for e, _ in events if e.kind == "progress"]


def test_build_training_data_writes_examples_to_the_graph(env: Env) -> None:
    record = env.client.build_training_data(discipline="economics", options={"dataset": "grpc_built",
                                                                             "families": ["statement", "recall"]})
    assert record.kind == "synthesis.build_training_data"
    events = list(env.client.watch(record.id, timeout_s=120))
    final = events[-1][1]
    assert final is not None and final.state == OperationState.SUCCEEDED, final
    result = final.result or {}
    [stored] = env.store.run("MATCH (x:TrainingExample {dataset: 'grpc_built'}) RETURN count(x) AS n, "
                             "collect(DISTINCT x.family) AS families")
    assert result["examples"] == stored["n"] > 0 and sorted(stored["families"]) == ["recall", "statement"]
    assert [d["discipline"] for d in result["disciplines"]] == ["economics"]
    assert _progress(events)[-1] == (stored["n"], stored["n"])
    with pytest.raises(InputError, match="dataset 'Not A Name'"):
        env.client.build_training_data(options={"dataset": "Not A Name"})
    with pytest.raises(InputError, match="colour: unknown setting"):
        env.client.build_training_data(options={"colour": "blue"})


def test_evaluate_model_answers_every_item_on_the_graph_and_traces_back(env: Env) -> None:
    record = env.client.evaluate_model(str(env.model), "toy", options={"limit": 6, "run_name": "grpc-eval"})
    events = list(env.client.watch(record.id, timeout_s=300))
    final = events[-1][1]
    assert final is not None and final.state == OperationState.SUCCEEDED, final
    result = final.result or {}
    run_id = EvalConfig(run_name="grpc-eval").run_id
    assert (result["run_id"], result["items"], result["answered_now"]) == (run_id, 6, 6)
    assert (6, 6) in _progress(events)  # per-item progress reached the last item
    answers = env.store.run("MATCH (:EvalRun {id: $id})-[a:ANSWERED]->(i:BenchmarkItem) "
                            "RETURN a.correct AS correct, a.chosen_operator AS op", {"id": run_id})
    assert len(answers) == 6 and sum(a["correct"] for a in answers) == result["correct"]
    assert all((a["op"] is None) == a["correct"] for a in answers)
    assert result["accuracy"] == pytest.approx(result["correct"] / 6)

    # the Debugger reads the same answers back over the Traceback RPC, by the run's name
    trace = env.client.traceback_run("grpc-eval", min_support=1)
    assert (trace.run_id, trace.items, trace.wrong) == (run_id, 6, 6 - result["correct"])
    if trace.wrong:
        assert trace.concepts and all(n.wrong <= n.items for n in trace.concepts)
        assert sum(o.fooled for o in trace.operators) == trace.wrong

    # resuming the same run (same name) answers only what is missing
    more = env.client.run_job(env.client.evaluate_model(str(env.model), "toy", options={"run_name": "grpc-eval"}),
                              timeout_s=300)
    assert (more["items"], more["answered_now"]) == (8, 2)


def test_evaluate_model_errors_name_what_is_wrong(env: Env) -> None:
    with pytest.raises(InputError, match=r"model '/no/such/model': no model folder"):
        env.client.evaluate_model("/no/such/model", "toy")
    with pytest.raises(InputError, match="temperature: unknown setting"):
        env.client.evaluate_model(str(env.model), "toy", options={"temperature": 0.2})
    with pytest.raises(InputError, match="split 'train'"):
        env.client.evaluate_model(str(env.model), "toy", options={"split": "train"})
    with pytest.raises(InputError, match="limit"):
        env.client.evaluate_model(str(env.model), "toy", options={"limit": "a few"})
    with pytest.raises(NotFound, match="benchmark 'nope' has no test items"):  # the job's own error
        env.client.run_job(env.client.evaluate_model(str(env.model), "nope"), timeout_s=120)


def _weights(folder: Path | str) -> Any:
    return transformers.AutoModelForCausalLM.from_pretrained(folder).state_dict()


def test_train_model_fine_tunes_and_reports_its_summary(env: Env) -> None:
    options = {**TINY_TRAINING, "run_name": "grpc_t1", "max_steps": 3, "save_steps": 2}
    record = env.client.train_model(str(env.model), "tiny", options=options)
    events = list(env.client.watch(record.id, timeout_s=300))
    final = events[-1][1]
    assert final is not None and final.state == OperationState.SUCCEEDED, final
    summary = final.result or {}
    assert summary["steps"] == 3 and summary["records"] == 16 and summary["resumed_from"] is None
    assert [step for step, _ in summary["losses"]] == [1, 2, 3]
    assert summary["run_dir"] == str(env.home / "runs" / "train" / "grpc_t1")
    assert _progress(events)[-1] == (3, 3)
    before, after = _weights(env.model), _weights(summary["model_dir"])
    assert any(not before[k].equal(after[k]) for k in before)  # it trained: parameters changed


def test_train_model_bad_specs_are_invalid_argument_naming_the_field(env: Env, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"base_model '\./missing-model': no model folder"):
        env.client.train_model("./missing-model", "tiny")
    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    with pytest.raises(InputError, match=r"no config\.json"):
        env.client.train_model(str(not_a_model), "tiny")
    for options, field in (({"lora_rank": 4}, "lora_rank: unknown setting"), ({"method": "qlora"}, "method 'qlora'"),
                           ({"max_steps": "many"}, "max_steps"), ({"train_file": "/no/file.jsonl"}, "train_file")):
        with pytest.raises(InputError, match=field):
            env.client.train_model(str(env.model), "tiny", options=options)
    with grpc.insecure_channel(env.server.address) as channel, pytest.raises(grpc.RpcError) as caught:
        TrainingServiceStub(channel).TrainModel(tpb.TrainModelRequest(base_model="/nowhere", dataset="tiny"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "/nowhere" in caught.value.details()


@pytest.mark.slow
def test_cancel_stops_training_and_resume_continues_from_the_last_checkpoint(env: Env) -> None:
    steps = 60  # many more than the test waits for, so the cancel lands mid-run even where steps are fast
    options = {**TINY_TRAINING, "run_name": "grpc_cancel", "max_steps": steps, "save_steps": 5, "logging_steps": 10,
               "per_device_train_batch_size": 1, "max_length": 128}
    record = env.client.train_model(str(env.model), "tiny", options=options)
    # step 7 has ended, so the checkpoint of step 5 is complete: cancel as soon as the stream says so
    for event, _ in env.client.watch(record.id, timeout_s=300):
        if event.kind == "progress" and event.payload["done"] >= 7:
            break
    pid = env.server.server.supervisor.store.get(record.id).worker_pid
    assert pid is not None
    cancelled = env.client.cancel(record.id)
    assert cancelled.state == OperationState.CANCELLED and cancelled.error is not None
    assert cancelled.error.resumable and gone(pid)
    run_dir = env.home / "runs" / "train" / "grpc_cancel"
    kept = sorted(int(p.name.split("-")[1]) for p in run_dir.glob("checkpoint-*"))
    assert kept and kept[-1] >= 5
    assert kept[-1] < steps and not (run_dir / "summary.json").exists()  # stopped before the end
    time.sleep(0.5)
    assert not (run_dir / "summary.json").exists()  # and stays stopped: nothing left running

    resumed = env.client.resume(record.id)
    assert resumed.attempt == 2
    summary = env.client.run_job(resumed, timeout_s=600)
    assert summary["steps"] == steps and summary["resumed_from"] is not None
    resumed_at = int(summary["resumed_from"].split("-")[1])
    assert resumed_at >= 5  # not from scratch
    logged = [step for step, _ in summary["losses"]]
    assert logged and all(step > resumed_at for step in logged)
