"""Long-running jobs as durable operations, over a real in-process server and real worker processes.

Besides the built-in structural check, the tests register one job kind of their own, ``test.sleep``
(tests/grpc_world.py): it writes its process id to a file, prints, logs, reports progress and sleeps
(or fails as told), so cancellation and restarts can be observed on a process that really runs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from proda.config import Settings
from proda.errors import InputError, NotFound, PreconditionFailed
from proda.pipelines.check import structural_report
from proda.schema.store import FalkorDBStore, ServerInfo
from proda.services.client import ProdaClient
from proda.services.jobs import JobRegistry
from proda.services.operations import OperationRecord, OperationState
from proda.services.server import BackgroundServer
from proda.v1 import operations_pb2 as opb
from proda.v1 import synthesis_pb2 as spb
from proda.v1 import training_pb2 as tpb
from proda.v1.operations_pb2_grpc import OperationsServiceStub
from proda.v1.synthesis_pb2_grpc import SynthesisServiceStub
from proda.v1.training_pb2_grpc import TrainingServiceStub
from tests.graphs import load_toy
from tests.grpc_world import SLEEP, eventually, gone, toy_registry


class Env:
    """A test's handle on a running server."""

    def __init__(self, server: BackgroundServer, client: ProdaClient, tmp: Path) -> None:
        self.server, self.client, self.tmp = server, client, tmp

    def sleep(self, seconds: float, **fields: Any) -> tuple[OperationRecord, Path]:
        """Start ``test.sleep``; it has no RPC of its own, so it enters through the supervisor, as a
        stage's start RPC does."""
        pid_file = self.tmp / f"{uuid.uuid4().hex}.pid"
        spec = {"seconds": seconds, "pid_file": str(pid_file), **fields}
        return self.server.run_coroutine(self.server.server.supervisor.submit(SLEEP, spec, None), 10), pid_file

    def running(self, record: OperationRecord, pid_file: Path) -> int:
        eventually(lambda: pid_file.exists() and pid_file.read_text() != "")
        eventually(lambda: self.client.operation(record.id).state == OperationState.RUNNING)
        return int(pid_file.read_text())


# not conftest's per-test falkordb_store: the module's one server (env) needs a graph that lives as long
@pytest.fixture(scope="module")
def graph(falkordb_server: ServerInfo) -> Iterator[FalkorDBStore]:
    """The toy graph (tests/graphs.py), shared by every test of the module."""
    store = FalkorDBStore("127.0.0.1", falkordb_server.port, f"grpc_ops_{uuid.uuid4().hex[:8]}",
                          password=falkordb_server.password)
    store.ensure_schema()
    load_toy(store)
    yield store
    store.clear()
    store.close()


@pytest.fixture(scope="module")
def env(graph: FalkorDBStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("grpc-ops")
    settings = Settings(home=tmp / "home", grpc_port=0, grpc_max_jobs=4)
    with BackgroundServer(settings, graph, registry=toy_registry()) as server, \
            ProdaClient(server.address) as client:
        yield Env(server, client, tmp)


def test_check_structure_runs_in_a_worker_and_reports_the_local_report(env: Env, graph: FalkorDBStore) -> None:
    record = env.client.check_structure()
    assert record.kind == "synthesis.check_structure" and record.state == OperationState.QUEUED
    result = env.client.run_job(record, timeout_s=60)
    assert result == structural_report(graph).model_dump(mode="json")
    done = env.client.operation(record.id)
    assert done.state == OperationState.SUCCEEDED and done.progress.done == done.progress.total == 1
    assert done.end_time is not None and done.start_time is not None and done.start_time <= done.end_time
    with pytest.raises(InputError, match="nothing in the graph"):  # the job's own error, as the CLI shows it
        env.client.run_job(env.client.check_structure("astrology"), timeout_s=60)


def test_start_is_idempotent_on_request_id(env: Env) -> None:
    first = env.client.check_structure("economics", request_id="req-idem-1")
    again = env.client.check_structure("economics", request_id="req-idem-1")
    assert again.id == first.id and again.request_id == "req-idem-1"
    with pytest.raises(InputError, match="other parameters"):
        env.client.check_structure("biology", request_id="req-idem-1")
    with pytest.raises(InputError, match="longer than 128"):
        env.client.check_structure(request_id="r" * 129)
    env.client.wait(first.id, 60)


def test_watch_streams_progress_logs_and_the_final_state(env: Env) -> None:
    record, _ = env.sleep(0.4)
    events = list(env.client.watch(record.id, timeout_s=60))
    kinds = [e.kind for e, _ in events]
    assert kinds[0] == "state" and "progress" in kinds and kinds[-1] == "state"
    assert [e.sequence for e, _ in events] == list(range(1, len(events) + 1))
    logs = {(e.payload["source"], e.payload["message"]) for e, _ in events if e.kind == "log"}
    assert {("stdout", "sleepy starts attempt 1"), ("tests.sleepy", "a warning through logging"),
            ("job", "a line through the job context")} <= logs
    final = events[-1][1]
    assert final is not None and final.state == OperationState.SUCCEEDED and final.result == {"slept": 0.4,
                                                                                             "attempt": 1}
    # a watcher that reconnects after sequence 3 gets the rest only; a finished operation's stream ends
    later = [e.sequence for e, _ in env.client.watch(record.id, after=3, timeout_s=10)]
    assert later == list(range(4, len(events) + 1))


def test_a_client_that_goes_away_releases_its_watch_and_wait(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """Watch and Wait are awaited on the server's event loop from a handler thread; when the client
    cancels or its deadline passes, the waiting coroutine is cancelled and the watcher unsubscribed."""
    record, pid_file = env.sleep(30)
    env.running(record, pid_file)
    supervisor = env.server.server.supervisor
    with grpc.insecure_channel(env.server.address) as channel:
        stub = OperationsServiceStub(channel)
        stream = stub.WatchOperation(opb.WatchOperationRequest(id=record.id))
        next(stream)
        eventually(lambda: record.id in supervisor._watchers)
        stream.cancel()
        waiting = stub.WaitOperation.future(opb.WaitOperationRequest(id=record.id))
        time.sleep(0.2)
        waiting.cancel()
        # a wait whose deadline comes first answers with the operation as it stands, just before it
        answer = stub.WaitOperation(opb.WaitOperationRequest(id=record.id), timeout=0.5)
        assert answer.operation.id == record.id
    eventually(lambda: record.id not in supervisor._watchers)
    # the server answers on, and the operation itself was not touched by its watchers leaving
    assert env.client.operation(record.id).state == OperationState.RUNNING
    env.client.cancel(record.id)
    # a client leaving is not an application error in the server's log
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_cancel_kills_the_running_worker(env: Env) -> None:
    record, pid_file = env.sleep(60)
    pid = env.running(record, pid_file)
    assert pid != os.getpid()  # the job runs in a worker process, not in the server
    cancelled = env.client.cancel(record.id)
    assert cancelled.state == OperationState.CANCELLED and cancelled.error is not None
    assert cancelled.error.code == "CANCELLED" and cancelled.error.resumable
    assert gone(pid)  # CancelOperation answers once the worker is dead
    assert env.client.cancel(record.id).state == OperationState.CANCELLED  # idempotent
    finished = env.client.check_structure("economics")
    env.client.wait(finished.id, 60)
    with pytest.raises(PreconditionFailed, match="already succeeded"):
        env.client.cancel(finished.id)


def test_failures_map_to_codes_and_resumable_ones_resume(env: Env) -> None:
    flaky, _ = env.sleep(0, fail="graph", fail_on_attempt=1)
    failed = env.client.wait(flaky.id, 60)
    assert failed.state == OperationState.FAILED and failed.error is not None
    assert (failed.error.code, failed.error.resumable) == ("UNAVAILABLE", True)
    assert "unreachable" in failed.error.message
    resumed = env.client.resume(flaky.id)
    assert resumed.state == OperationState.QUEUED and resumed.attempt == 2
    again = env.client.wait(flaky.id, 60)
    assert again.state == OperationState.SUCCEEDED and again.result == {"slept": 0.0, "attempt": 2}

    bad_input, _ = env.sleep(0, fail="input")
    bug, _ = env.sleep(0, fail="bug")
    bad, crashed = env.client.wait(bad_input.id, 60), env.client.wait(bug.id, 60)
    assert bad.error is not None and (bad.error.code, bad.error.resumable) == ("INVALID_ARGUMENT", False)
    assert crashed.error is not None and crashed.error.code == "INTERNAL"
    assert "ZeroDivisionError" in crashed.error.message
    with pytest.raises(PreconditionFailed, match="not resumable"):
        env.client.resume(bad_input.id)
    with pytest.raises(PreconditionFailed, match="it is succeeded"):
        env.client.resume(flaky.id)


def test_stages_not_installed_answer_failed_precondition(env: Env) -> None:
    registry = JobRegistry(unavailable={"training.train_model": "training stage"})
    with pytest.raises(PreconditionFailed, match=r"not available yet: training stage not installed"):
        registry.validate("training.train_model", {})
    with grpc.insecure_channel(env.server.address) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            TrainingServiceStub(channel).TrainModel(tpb.TrainModelRequest(base_model="/nowhere", dataset="tiny"))
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # before the bad model path is looked at
        assert "not available yet: training stage not installed" in caught.value.details()
        for bad in (spb.ExtractKnowledgeRequest(backend="telepathy"), spb.ExtractKnowledgeRequest(batch_size=-3),
                    spb.BuildBenchmarkRequest(name="Not A Name"), spb.BuildBenchmarkRequest(splits=["train"]),
                    spb.CheckStructureRequest(discipline="x" * 300),
                    spb.GeneratePatchesRequest(discipline="economics")):  # no eval_run_id
            start = getattr(SynthesisServiceStub(channel), type(bad).__name__.removesuffix("Request"))
            with pytest.raises(grpc.RpcError) as caught:
                start(bad)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad


def test_list_get_and_wait(env: Env) -> None:
    kind = "synthesis.check_structure"
    started = [env.client.check_structure("economics", request_id=f"list-{i}") for i in range(3)]
    for r in started:
        env.client.wait(r.id, 60)
    listed = list(env.client.list_operations(kind=kind, page_size=2))
    assert [r.id for r in listed][:3] == [r.id for r in reversed(started)]  # newest first, across pages
    assert all(r.kind == kind for r in listed)
    assert {r.id for r in env.client.list_operations(state=OperationState.CANCELLED)}.isdisjoint(
        r.id for r in started)
    with pytest.raises(NotFound):
        env.client.operation("op_missing")
    with grpc.insecure_channel(env.server.address) as channel:
        stub = OperationsServiceStub(channel)
        for call in (lambda: stub.GetOperation(opb.GetOperationRequest()),
                     lambda: stub.ListOperations(opb.ListOperationsRequest(page_token="bm90IGEgdG9rZW4")),
                     lambda: stub.ListOperations(opb.ListOperationsRequest(state=99)),
                     lambda: list(stub.WatchOperation(opb.WatchOperationRequest(id="x", after_sequence=-1)))):
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.WatchOperation(opb.WatchOperationRequest(id="op_missing")))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    record, pid_file = env.sleep(60)
    env.running(record, pid_file)
    waited = env.client.wait(record.id, timeout_s=0.3)
    assert waited.state == OperationState.RUNNING and not waited.done  # a wait that runs out is no error
    env.client.cancel(record.id)


def test_queued_operations_wait_for_a_slot_and_cancel_without_running(graph: FalkorDBStore, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, grpc_port=0, grpc_max_jobs=0)
    with BackgroundServer(settings, graph) as server, ProdaClient(server.address) as client:
        record = client.check_structure()
        assert client.wait(record.id, timeout_s=0.3).state == OperationState.QUEUED
        cancelled = client.cancel(record.id)
        assert cancelled.state == OperationState.CANCELLED and cancelled.start_time is None


def test_restart_after_graceful_stop(graph: FalkorDBStore, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", grpc_port=0, grpc_max_jobs=1)
    with BackgroundServer(settings, graph, registry=toy_registry()) as server, \
            ProdaClient(server.address) as client:
        env = Env(server, client, tmp_path)
        done = client.check_structure("economics")
        client.wait(done.id, 60)
        running, pid_file = env.sleep(60)
        queued, _ = env.sleep(0)
        pid = env.running(running, pid_file)
    assert gone(pid)  # stopping the server stopped its job
    with BackgroundServer(settings, graph, registry=toy_registry()) as server, \
            ProdaClient(server.address) as client:
        interrupted = client.operation(running.id)
        assert interrupted.state == OperationState.FAILED and interrupted.error is not None
        assert (interrupted.error.code, interrupted.error.resumable) == ("ABORTED", True)
        assert client.operation(done.id).result is not None  # finished results survive the restart
        assert client.wait(queued.id, 60).state == OperationState.SUCCEEDED  # queued work is picked up again


SERVE = """
import asyncio, sys
from proda.config import Settings
from proda.schema.store import FalkorDBStore
from proda.services.server import serve
from tests.grpc_world import toy_registry

settings = Settings()
store = FalkorDBStore("127.0.0.1", int(sys.argv[1]), settings.graph_name, password=sys.argv[2] or None)
started = []

def ready(server):
    async def start():
        record = await server.supervisor.submit("test.sleep", {"seconds": 60, "pid_file": sys.argv[3]}, None)
        print("listening", server.port, record.id, flush=True)
    started.append(asyncio.get_running_loop().create_task(start()))

asyncio.run(serve(settings, store, registry=toy_registry(), on_ready=ready))
"""


def test_restart_after_a_crash_marks_the_job_failed_and_resumable(graph: FalkorDBStore, falkordb_server: ServerInfo,
                                                                  tmp_path: Path) -> None:
    home = tmp_path / "home"
    env_vars = {**{k: v for k, v in os.environ.items() if not k.startswith("PRODA_")},
                "PRODA_HOME": str(home), "PRODA_GRAPH_NAME": graph.graph_name, "PRODA_GRPC_PORT": "0"}
    pid_file = tmp_path / "job.pid"
    crashed = subprocess.Popen([sys.executable, "-c", SERVE, str(falkordb_server.port), falkordb_server.password or "",
                                str(pid_file)], env=env_vars, stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).parent.parent)
    try:
        assert crashed.stdout is not None
        _, port, record = crashed.stdout.readline().split()
        with ProdaClient(f"127.0.0.1:{port}") as client:
            eventually(lambda: pid_file.exists() and pid_file.read_text() != "")
            eventually(lambda: client.operation(record).state == OperationState.RUNNING)
        worker = int(pid_file.read_text())
        crashed.send_signal(signal.SIGKILL)
        crashed.wait(10)
        eventually(lambda: gone(worker))  # the orphaned worker noticed and killed itself
    finally:
        if crashed.poll() is None:
            crashed.kill()
            crashed.wait(10)
    settings = Settings(home=home, grpc_port=0, graph_name=graph.graph_name)
    with BackgroundServer(settings, graph, registry=toy_registry()) as server, \
            ProdaClient(server.address) as client:
        after = client.operation(record)
        assert after.state == OperationState.FAILED and after.error is not None
        assert after.error.resumable and "interrupted" in after.error.message
        assert client.resume(record).attempt == 2
        assert client.cancel(record).state == OperationState.CANCELLED

