"""The gRPC server: assembly, health, start-up and graceful shutdown.

:class:`ProdaServer` puts together the servicers, the interceptors (request ids and error mapping
first, bearer-token auth second), the standard ``grpc.health.v1`` service, reflection, message size
limits and optional TLS, around a graph store the entry point opened and injects (and later closes).

Health starts NOT_SERVING, turns SERVING once the graph answers a ping, follows the graph while the
server runs (a background check every few seconds), and goes back to NOT_SERVING for good when the
shutdown begins, so load balancers drain the server before it stops.

:func:`serve` runs a server until SIGTERM or SIGINT; :class:`BackgroundServer` runs one on its own
event loop in a thread, for embedding in a synchronous program (tests, the load benchmark).

Calls are answered by gRPC's synchronous server on a pool of handler threads; the supervisor of
long-running jobs, the health monitor and start/stop live on an asyncio event loop, which job and
operation calls reach through :class:`~proda.services.loop_bridge.LoopBridge`. Why not ``grpc.aio``
throughout: answering GetConcept with a constant message (2 cores, server pinned to one,
``benchmarks/grpc_floor.py``) the asyncio server cost 364 µs of server CPU per call against 229 µs
for the threaded one, and the graph call then needed a hop from the event loop to a thread anyway
(README, "gRPC under load"). A streaming call (WatchOperation, health Watch) holds a handler thread while it is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from proda.config import Settings
from proda.errors import ConfigError, GraphUnavailable
from proda.knowledge import Knowledge
from proda.schema.store.base import GraphStore
from proda.services.auth import BearerTokenInterceptor
from proda.services.interceptors import CallInterceptor
from proda.services.jobs import JobRegistry, default_registry
from proda.services.jobs_rpc import EvaluationServicer, SynthesisServicer, TrainingServicer
from proda.services.knowledge_rpc import KnowledgeServicer
from proda.services.loop_bridge import LoopBridge
from proda.services.operations import OperationStore
from proda.services.operations_rpc import OperationsServicer
from proda.services.ownership import OperationsOwned, OperationsOwner
from proda.services.supervisor import Supervisor
from proda.v1 import (
    evaluation_pb2,
    evaluation_pb2_grpc,
    knowledge_pb2,
    knowledge_pb2_grpc,
    operations_pb2,
    operations_pb2_grpc,
    synthesis_pb2,
    synthesis_pb2_grpc,
    training_pb2,
    training_pb2_grpc,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Handler threads: each call holds one (a graph query, or a job call awaited on the loop), and each
# open stream holds one for its life; beyond the pool, calls queue until a thread is free, and beyond
# MAX_CALLS in all (running and queued) a call is refused RESOURCE_EXHAUSTED rather than left waiting.
HANDLER_THREADS = 64
MAX_CALLS = 4 * HANDLER_THREADS
HEALTH_INTERVAL_S = 5.0
SERVICES = tuple(f.DESCRIPTOR.services_by_name[name].full_name for f, name in (
    (knowledge_pb2, "KnowledgeService"), (operations_pb2, "OperationsService"), (synthesis_pb2, "SynthesisService"),
    (evaluation_pb2, "EvaluationService"), (training_pb2, "TrainingService")))
OPERATIONS_FILE = "operations.sqlite3"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read the {what} {path}: {e}") from e


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials from the settings (None: plaintext); mutual TLS when a client CA is set."""
    if settings.grpc_tls_cert is None or settings.grpc_tls_key is None:
        if settings.grpc_tls_client_ca is not None:
            raise ConfigError("PRODA_GRPC_TLS_CLIENT_CA needs PRODA_GRPC_TLS_CERT and PRODA_GRPC_TLS_KEY")
        return None
    pair = (_read(settings.grpc_tls_key, "TLS key"), _read(settings.grpc_tls_cert, "TLS certificate"))
    client_ca = _read(settings.grpc_tls_client_ca, "client CA") if settings.grpc_tls_client_ca else None
    return grpc.ssl_server_credentials([pair], root_certificates=client_ca,
                                       require_client_auth=client_ca is not None)


class ProdaServer:
    """One gRPC server over one graph store (injected; the caller closes it after :meth:`stop`)."""

    def __init__(self, settings: Settings, store: GraphStore, *, registry: JobRegistry | None = None,
                 host: str | None = None, port: int | None = None, max_jobs: int | None = None,
                 health_interval_s: float = HEALTH_INTERVAL_S) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry or default_registry()
        self.host = host or settings.grpc_host
        self.requested_port = settings.grpc_port if port is None else port
        self.max_jobs = settings.grpc_max_jobs if max_jobs is None else max_jobs
        self.health_interval_s = health_interval_s
        self.port = 0
        self.tls = False
        self.health = health.HealthServicer()
        self._server: grpc.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._operations: OperationStore | None = None
        self._supervisor: Supervisor | None = None
        self._monitor: asyncio.Task[None] | None = None
        # the one writer of the operation store (proda.services.ownership); the Studio names itself here
        self.owner_role = "proda serve"
        self._owner: OperationsOwner | None = None

    @property
    def address(self) -> str:
        """``host:port`` as a client dials it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def supervisor(self) -> Supervisor:
        """The operation supervisor (after :meth:`start`)."""
        if self._supervisor is None:
            raise RuntimeError("the server has not started")
        return self._supervisor

    async def start(self) -> int:
        """Bind, start serving and supervising jobs; returns the bound port.

        Raises :class:`ConfigError` when the address cannot be bound or when the server would listen
        beyond loopback without PRODA_API_TOKENS.
        """
        tokens = self.settings.bearer_tokens()
        if not tokens and not _is_loopback(self.host):
            raise ConfigError(f"refusing to serve on {self.host} without authentication: set PRODA_API_TOKENS "
                              "(or listen on 127.0.0.1)")
        credentials = server_credentials(self.settings)
        size = self.settings.grpc_max_message_bytes
        interceptors: list[grpc.ServerInterceptor] = [CallInterceptor()]
        if tokens:
            interceptors.append(BearerTokenInterceptor(tokens))
        self._executor = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="proda-rpc")
        server = grpc.server(self._executor, interceptors=interceptors, maximum_concurrent_rpcs=MAX_CALLS, options=[
            ("grpc.max_receive_message_length", size),
            ("grpc.max_send_message_length", size),
            ("grpc.so_reuseport", 0),  # a second server on a busy port must fail, not share it
        ])
        loop = LoopBridge(asyncio.get_running_loop())
        home = self.settings.home.resolve()
        try:
            self._owner = OperationsOwner.claim(home, self.owner_role)
        except OperationsOwned:
            self._close_resources()
            raise
        self._operations = OperationStore(home / OPERATIONS_FILE)
        self._supervisor = Supervisor(self._operations, self.registry, graph=self.store.spec(), home=home,
                                      max_jobs=self.max_jobs)
        knowledge = Knowledge(self.store, max_rows=self.settings.grpc_row_limit)
        knowledge_pb2_grpc.add_KnowledgeServiceServicer_to_server(
            KnowledgeServicer(knowledge, query_cap_ms=self.settings.query_timeout_ms), server)
        operations_pb2_grpc.add_OperationsServiceServicer_to_server(OperationsServicer(self._supervisor, loop), server)
        synthesis_pb2_grpc.add_SynthesisServiceServicer_to_server(SynthesisServicer(self._supervisor, loop), server)
        evaluation_pb2_grpc.add_EvaluationServiceServicer_to_server(EvaluationServicer(self._supervisor, loop), server)
        training_pb2_grpc.add_TrainingServiceServicer_to_server(TrainingServicer(self._supervisor, loop), server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        for name in ("", *SERVICES):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        reflection.enable_server_reflection(
            (*SERVICES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server)
        host = f"[{self.host}]" if ":" in self.host else self.host
        target = f"{host}:{self.requested_port}"
        try:
            port = server.add_secure_port(target, credentials) if credentials else server.add_insecure_port(target)
        except RuntimeError as e:
            port = 0
            cause: Exception | None = e
        else:
            cause = None
        if not port:
            self._close_resources()
            raise ConfigError(f"cannot listen on {target}{f': {cause}' if cause else ''}; is the port in use?")
        self.port, self.tls, self._server = port, credentials is not None, server
        self._owner.announce(self.address)
        try:
            server.start()
            await self._supervisor.start()
        except BaseException:
            server.stop(None)
            self._close_resources()
            raise
        self._monitor = asyncio.get_running_loop().create_task(self._watch_graph(), name="graph health")
        log.info("serving proda.v1 on %s (%s, auth %s)", self.address, "TLS" if self.tls else "plaintext",
                 "on" if tokens else "off")
        return port

    async def _set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *SERVICES):
            self.health.set(name, status)

    async def _watch_graph(self) -> None:
        loop = asyncio.get_running_loop()
        serving: bool | None = None
        while True:
            try:
                await loop.run_in_executor(None, self.store.ping)
                up = True
            except Exception as e:  # whatever the ping meets, the answer is NOT_SERVING, not a dead monitor
                if serving is not False:
                    level = logging.WARNING if isinstance(e, GraphUnavailable) else logging.ERROR
                    log.log(level, "graph unavailable, health NOT_SERVING: %s", e, exc_info=level == logging.ERROR)
                up = False
            if up != serving:
                await self._set_serving(up)
                serving = up
            await asyncio.sleep(self.health_interval_s)

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: health NOT_SERVING, no new calls, in-flight calls get ``grace`` seconds,
        running jobs are stopped (failed, resumable), then the operation store closes."""
        self.health.enter_graceful_shutdown()
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        if self._server is not None:
            # the loop keeps running meanwhile: in-flight job calls are awaited on it
            stopped = self._server.stop(self.settings.grpc_shutdown_grace_s if grace is None else grace)
            await asyncio.get_running_loop().run_in_executor(None, stopped.wait)
        if self._supervisor is not None:
            await self._supervisor.shutdown()
        self._close_resources()
        log.info("server on %s stopped", self.address)

    def _close_resources(self) -> None:
        if self._owner is not None:
            self._owner.release()
            self._owner = None
        if self._operations is not None:
            self._operations.close()
            self._operations = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


async def serve(settings: Settings, store: GraphStore, *, host: str | None = None, port: int | None = None,
                registry: JobRegistry | None = None, on_ready: Callable[[ProdaServer], None] | None = None) -> None:
    """Run a server until SIGTERM or SIGINT, then shut it down gracefully."""
    server = ProdaServer(settings, store, registry=registry, host=host, port=port)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        on_ready(server)
    try:
        await stop.wait()
    finally:
        await server.stop()


class BackgroundServer:
    """A :class:`ProdaServer` on its own event loop in a daemon thread; a context manager.

    ``with BackgroundServer(settings, store) as server: ...`` returns once the server listens
    (``server.port``) and stops it gracefully on exit. Start-up errors are raised in the caller.
    """

    def __init__(self, settings: Settings, store: GraphStore, **options: Any) -> None:
        self.server = ProdaServer(settings, store, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="proda-grpc", daemon=True)
        self._grace: float | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> str:
        return self.server.address

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as e:  # noqa: BLE001  # handed to the thread that waits for the start
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.server.stop(self._grace)

    def start(self) -> BackgroundServer:
        """Start the thread and wait until the server listens; raises what the start-up raised."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def run_coroutine(self, coroutine: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run ``coroutine`` on the server's event loop (e.g. a supervisor call) and return its result."""
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the server has not started")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    def stop(self, grace: float | None = None) -> None:
        """Shut the server down gracefully and wait for the thread."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._grace = grace
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
