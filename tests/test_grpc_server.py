"""The server's cross-cutting behaviour: health, reflection, auth, request ids, size limits, TLS,
graceful shutdown, the ``proda serve`` command and the CLI's ``--remote`` mode."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from typer.testing import CliRunner

from proda.cli.main import app
from proda.config import Settings
from proda.errors import ConfigError, GraphUnavailable
from proda.pipelines.check import structural_report
from proda.schema.store import FalkorDBStore, ServerInfo
from proda.services import server as server_module
from proda.services.client import ProdaClient
from proda.services.server import SERVICES, BackgroundServer
from proda.v1 import knowledge_pb2 as kpb
from proda.v1 import operations_pb2 as opb
from proda.v1.knowledge_pb2_grpc import KnowledgeServiceStub
from proda.v1.operations_pb2_grpc import OperationsServiceStub
from tests.graphs import load_toy
from tests.grpc_world import eventually

TOKEN = "test-token-0123456789abcdef"
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


class FlakyStore(FalkorDBStore):
    """A real store whose health ping can be made to fail, as if the database went away."""

    down = False

    def ping(self) -> None:
        if self.down:
            raise GraphUnavailable(f"{self.url} is down (test)")
        super().ping()


# not conftest's falkordb_store: the store must be a FlakyStore, whose health ping a test can break
@pytest.fixture
def graph(falkordb_server: ServerInfo) -> Iterator[FlakyStore]:
    store = FlakyStore("127.0.0.1", falkordb_server.port, f"grpc_srv_{uuid.uuid4().hex[:8]}",
                       password=falkordb_server.password)
    store.ensure_schema()
    load_toy(store)
    yield store
    store.clear()
    store.close()


def test_health_follows_the_graph_and_shutdown(graph: FlakyStore, tmp_path: Path) -> None:
    graph.down = True
    settings = Settings(home=tmp_path, grpc_port=0)
    server = BackgroundServer(settings, graph, health_interval_s=0.05).start()
    channel = grpc.insecure_channel(server.address)
    health = health_pb2_grpc.HealthStub(channel)

    def status(service: str = "") -> int:
        return health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status  # type: ignore[no-any-return]

    try:
        assert status() == NOT_SERVING  # the graph has not answered yet
        graph.down = False
        eventually(lambda: status() == SERVING)
        assert all(status(name) == SERVING for name in SERVICES)
        graph.down = True
        eventually(lambda: status() == NOT_SERVING)
        graph.down = False
        eventually(lambda: status() == SERVING)
        seen: list[int] = []
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)

        def read() -> None:
            with contextlib.suppress(grpc.RpcError):  # the stream ends when the server goes away
                seen.extend(r.status for r in watch)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        eventually(lambda: seen == [SERVING])
    finally:
        server.stop(grace=1)
    reader.join(10)
    assert seen[-1] == NOT_SERVING  # drained: NOT_SERVING was announced before the server went away
    channel.close()


def test_reflection_lists_every_service(graph: FlakyStore, tmp_path: Path) -> None:
    with BackgroundServer(Settings(home=tmp_path, grpc_port=0), graph) as server, \
            grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                            timeout=10)
        names = {s.name for a in answers for s in a.list_services_response.service}
    assert set(SERVICES) | {"grpc.health.v1.Health"} <= names


def test_bearer_tokens_guard_everything_but_health(graph: FlakyStore, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, grpc_port=0, api_tokens=f"{TOKEN},another-token-0123456789")
    concept = kpb.GetConceptRequest(id=load_toy(graph).c["price"].id)
    with BackgroundServer(settings, graph) as server, grpc.insecure_channel(server.address) as channel:
        knowledge, operations = KnowledgeServiceStub(channel), OperationsServiceStub(channel)
        for metadata in ((), (("authorization", "Bearer wrong-token-0123456789"),), (("authorization", TOKEN),)):
            with pytest.raises(grpc.RpcError) as caught:
                knowledge.GetConcept(concept, metadata=metadata, timeout=10)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as caught:  # streaming RPCs too
            list(operations.WatchOperation(opb.WatchOperationRequest(id="op_x"), timeout=10))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        for token in (TOKEN, "another-token-0123456789"):
            answer = knowledge.GetConcept(concept, metadata=(("authorization", f"Bearer {token}"),), timeout=10)
            assert answer.concept.name == "price"
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status in (SERVING, NOT_SERVING)  # answered without a token
        with ProdaClient(server.address, token=TOKEN) as client:
            assert client.get_concept(concept.id).name == "price"
        with ProdaClient(server.address) as client, pytest.raises(ConfigError, match="PRODA_API_TOKEN"):
            client.get_concept(concept.id)


def test_request_ids_are_returned_and_oversized_requests_refused(graph: FlakyStore, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, grpc_port=0, grpc_max_message_bytes=64 * 1024)
    with BackgroundServer(settings, graph) as server, grpc.insecure_channel(server.address) as channel:
        stub = KnowledgeServiceStub(channel)
        _, call = stub.GetConcept.with_call(kpb.GetConceptRequest(id=load_toy(graph).c["price"].id),
                                            metadata=(("x-request-id", "trace-42"),), timeout=10)
        assert ("x-request-id", "trace-42") in tuple(call.trailing_metadata() or ())
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetConcept(kpb.GetConceptRequest(id="nope"), timeout=10)
        assert dict(caught.value.trailing_metadata() or ())["x-request-id"]  # errors carry one too
        with pytest.raises(grpc.RpcError) as caught:
            stub.SearchConcepts(kpb.SearchConceptsRequest(query="x" * (70 * 1024)), timeout=10)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert stub.GetChain(kpb.GetChainRequest(id=load_toy(graph).chain.id), timeout=10).chain.steps


def test_refuses_to_serve_beyond_loopback_without_tokens_or_on_a_busy_port(graph: FlakyStore,
                                                                            tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PRODA_API_TOKENS"):
        BackgroundServer(Settings(home=tmp_path, grpc_port=0, grpc_host="0.0.0.0"), graph).start()
    with BackgroundServer(Settings(home=tmp_path / "a", grpc_port=0), graph) as server, \
            pytest.raises(ConfigError, match="cannot listen"):
        BackgroundServer(Settings(home=tmp_path / "b", grpc_port=server.port), graph).start()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed: TLS test skipped")
def test_tls(graph: FlakyStore, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    settings = Settings(home=tmp_path, grpc_port=0, grpc_tls_cert=cert, grpc_tls_key=key, grpc_tls_ca=cert)
    with BackgroundServer(settings, graph) as server:
        assert server.server.tls
        with ProdaClient.from_url(f"grpcs://localhost:{server.port}", settings) as client:
            assert client.get_concept(load_toy(graph).c["price"].id).name == "price"
        with ProdaClient(f"localhost:{server.port}", timeout_s=3) as plain, pytest.raises(GraphUnavailable):
            plain.get_concept("x")  # a plaintext client cannot talk to a TLS server


def test_streams_hold_handler_threads_and_calls_beyond_the_limit_are_refused(
        graph: FlakyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A call beyond the server's limit of calls in progress is refused RESOURCE_EXHAUSTED at once, never
    left waiting behind open streams; the next call after a stream closes is answered."""
    monkeypatch.setattr(server_module, "HANDLER_THREADS", 2)
    monkeypatch.setattr(server_module, "MAX_CALLS", 2)
    settings = Settings(home=tmp_path / "home", grpc_port=0)
    with BackgroundServer(settings, graph) as server, grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        eventually(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == SERVING)
        streams = [health.Watch(health_pb2.HealthCheckRequest(), timeout=30) for _ in range(2)]
        for stream in streams:
            next(stream)  # both are open and each holds a handler thread
        stub = KnowledgeServiceStub(channel)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetConcept(kpb.GetConceptRequest(id="con_missing"), timeout=20)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert time.monotonic() - started < 10
        streams[0].cancel()
        eventually(lambda: _code(lambda: stub.GetConcept(kpb.GetConceptRequest(id="con_missing"), timeout=5))
                   == grpc.StatusCode.NOT_FOUND)
        streams[1].cancel()


def _code(call: Callable[[], object]) -> grpc.StatusCode | None:
    try:
        call()
    except grpc.RpcError as e:
        return e.code()  # type: ignore[no-any-return]  # RpcError raised by calls is a grpc.Call
    return None


def test_graceful_stop_lets_in_flight_calls_finish(graph: FlakyStore, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, grpc_port=0, grpc_max_jobs=0)  # the job stays queued
    server = BackgroundServer(settings, graph).start()
    with ProdaClient(server.address) as client:
        record = client.check_structure()
        answer: list[object] = []
        waiter = threading.Thread(target=lambda: answer.append(client.wait(record.id, timeout_s=1.5)))
        waiter.start()
        time.sleep(0.3)  # let the wait reach the server before the shutdown begins
        server.stop(grace=10)
        waiter.join(10)
    assert answer and not isinstance(answer[0], Exception)


def _env(home: Path, info: ServerInfo, graph: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRODA_")}
    env.update(PRODA_HOME=str(home), PRODA_GRAPH_NAME=graph,
               PRODA_GRAPH_URL=f"falkordb://:{info.password or ''}@127.0.0.1:{info.port}", **extra)
    return env


def test_proda_serve_answers_and_stops_on_sigterm(graph: FlakyStore, falkordb_server: ServerInfo,
                                                  tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "proda.cli.main", "serve", "--port", "0", "--log-level",
                                "warning"], env=_env(tmp_path, falkordb_server, graph.graph_name),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on 127.0.0.1:" in line, process.stderr.read() if process.stderr else line
        address = line.split("listening on ")[1].split()[0]
        with ProdaClient(address) as client:
            eventually(lambda: client.health() == "SERVING")
            assert client.get_concept(load_toy(graph).c["price"].id).name == "price"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_cli_remote_mode_runs_query_and_check_on_the_server(graph: FlakyStore, falkordb_server: ServerInfo,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toy = load_toy(graph)
    for key in [k for k in os.environ if k.startswith("PRODA_")]:
        monkeypatch.delenv(key)
    # the local side has no graph at all: everything below must come from the server
    monkeypatch.setenv("PRODA_GRAPH_URL", "falkordb://127.0.0.1:1")
    runner = CliRunner()
    with BackgroundServer(Settings(home=tmp_path, grpc_port=0), graph) as server:
        remote = f"grpc://{server.address}"
        result = runner.invoke(app, ["query", "concept_neighbours", "-p", f"id={toy.c['price'].id}", "--json",
                                     "--remote", remote])
        assert result.exit_code == 0, result.output
        assert {r["neighbour_name"] for r in json.loads(result.output)} == {"demand", "tax"}
        result = runner.invoke(app, ["check", "--json", "--remote", remote])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == structural_report(graph).model_dump(mode="json")
        result = runner.invoke(app, ["query", "nope", "--remote", remote])
        assert "no catalog query 'nope'" in str(result.exception)
