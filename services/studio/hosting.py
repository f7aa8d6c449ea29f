"""Where the Studio's jobs run: always through the durable operations of ``proda serve``.

The operation store (``$PRODA_HOME/operations.sqlite3``) has one writer, the process that hosts the
:class:`~proda.services.supervisor.Supervisor`; :mod:`proda.services.ownership` says which one by a
lock file. At start the Studio tries to become that process itself: it starts a complete
:class:`~proda.services.server.ProdaServer` (gRPC on loopback, every service, the same supervisor and
registry plus the Studio's own job kinds) on its own event loop. A job started on a page is then
submitted to that supervisor directly, runs in a worker process, and is visible to any gRPC client
of the address the Studio prints (``OperationsService``), and to a ``proda serve`` started later on
the same PRODA_HOME, which finds it in the store (failed-resumable if the Studio stopped under it).

When ``proda serve`` already owns the store, the Studio does not open it for writing: it becomes a
gRPC client of that server (address from the owner file) and starts jobs with the server's own start
RPCs. The Studio's extra kinds (ingest, resolve, bench check/export, the loop) have no RPC, so in that
mode they are refused with the reason. Reads of the graph never go through gRPC: pages call the
domain layer (:mod:`proda.knowledge`, the catalog) on the Studio's own graph connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from proda.config import Settings
from proda.errors import PreconditionFailed
from proda.schema.store.base import GraphStore
from proda.services import jobs as job_kinds
from proda.services.jobs import JobRegistry
from proda.services.operations import OperationEvent, OperationRecord, OperationState
from proda.services.ownership import OperationsOwned, read_owner
from proda.services.studio.jobs import studio_registry

if TYPE_CHECKING:
    from proda.services.server import ProdaServer


@dataclass(frozen=True)
class Page:
    """One page of operations, newest first, and the keyset position of the next page (None: last)."""

    records: list[OperationRecord]
    after: tuple[float, str] | None


class Operations(Protocol):
    """What the pages need of the operation store: the same calls ``OperationsService`` offers."""

    mode: str  # "hosted" or "client"
    address: str  # the gRPC address of the owning server
    registry: JobRegistry

    def kinds(self) -> list[str]: ...

    async def submit(self, kind: str, values: Mapping[str, Any]) -> OperationRecord: ...

    async def get(self, operation_id: str) -> OperationRecord: ...

    async def find(self, *, kind: str | None = None, state: OperationState | None = None, limit: int = 20,
                   after: tuple[float, str] | None = None) -> Page: ...

    async def cancel(self, operation_id: str) -> OperationRecord: ...

    async def resume(self, operation_id: str) -> OperationRecord: ...

    def watch(self, operation_id: str, after: int = 0) -> AsyncIterator[tuple[OperationEvent, OperationRecord | None]]:
        ...

    async def close(self) -> None: ...


class HostedOperations:
    """The Studio process owns the store: a ProdaServer on its loop, the supervisor called directly."""

    mode = "hosted"

    def __init__(self, server: ProdaServer) -> None:
        self.server = server
        self.registry: JobRegistry = server.registry
        self.address: str = server.address

    @classmethod
    async def start(cls, settings: Settings, store: GraphStore, *, grpc_port: int = 0,
                    max_jobs: int | None = None) -> HostedOperations:
        """Start a loopback gRPC server with the Studio's registry; raises OperationsOwned when taken."""
        from proda.services.server import ProdaServer

        server = ProdaServer(settings, store, registry=studio_registry(), host="127.0.0.1", port=grpc_port,
                             max_jobs=max_jobs)
        server.owner_role = "proda studio"
        await server.start()
        return cls(server)

    def kinds(self) -> list[str]:
        return self.registry.names()

    async def submit(self, kind: str, values: Mapping[str, Any]) -> OperationRecord:
        return await self.server.supervisor.submit(kind, values, uuid.uuid4().hex)

    async def get(self, operation_id: str) -> OperationRecord:
        return self.server.supervisor.get(operation_id)

    async def find(self, *, kind: str | None = None, state: OperationState | None = None, limit: int = 20,
                   after: tuple[float, str] | None = None) -> Page:
        records = self.server.supervisor.find(kind=kind, state=state, limit=limit + 1, after=after)
        page = records[:limit]
        more = len(records) > limit and page
        return Page(page, (page[-1].create_time, page[-1].id) if more else None)

    async def cancel(self, operation_id: str) -> OperationRecord:
        return await self.server.supervisor.cancel(operation_id)

    async def resume(self, operation_id: str) -> OperationRecord:
        return await self.server.supervisor.resume(operation_id)

    async def watch(self, operation_id: str,
                    after: int = 0) -> AsyncIterator[tuple[OperationEvent, OperationRecord | None]]:
        async for item in self.server.supervisor.watch(operation_id, after):
            yield item

    async def close(self) -> None:
        await self.server.stop(2.0)


# how the start RPCs of proda serve take each kind's validated spec
def _start_remote(client: Any, kind: str, spec: dict[str, Any]) -> OperationRecord:
    options = dict(spec)
    if kind == job_kinds.CHECK_STRUCTURE:
        return client.check_structure(spec.get("discipline"))  # type: ignore[no-any-return]
    if kind == job_kinds.EXTRACT_KNOWLEDGE:
        return client.extract_knowledge(  # type: ignore[no-any-return]
            discipline=spec.get("discipline"), backend=spec.get("backend") or "", model=spec.get("model") or "",
            max_cost=spec.get("max_cost"), max_tokens=spec.get("max_tokens"), batch_size=spec.get("batch_size", 0))
    if kind == job_kinds.BUILD_BENCHMARK:
        name, discipline, seed = options.pop("name"), options.pop("discipline"), options.pop("seed")
        options.pop("splits", None)  # the RPC builds the default splits
        return client.build_benchmark(name=name, discipline=discipline, seed=seed,  # type: ignore[no-any-return]
                                      **{k: v for k, v in options.items() if v is not None})
    if kind == job_kinds.BUILD_TRAINING_DATA:
        return client.build_training_data(discipline=options.pop("discipline", None),  # type: ignore[no-any-return]
                                          options=options)
    if kind == job_kinds.GENERATE_PATCHES:
        run = options.pop("run")
        return client.generate_patches(run, discipline=options.pop("discipline", None),  # type: ignore[no-any-return]
                                       diagnose_only=options.pop("diagnose_only", False), options=options)
    if kind == job_kinds.EVALUATE_MODEL:
        return client.evaluate_model(options.pop("model"), options.pop("benchmark"),  # type: ignore[no-any-return]
                                     options=options)
    if kind == job_kinds.TRAIN_MODEL:
        return client.train_model(options.pop("base_model"), options.pop("dataset") or "",  # type: ignore[no-any-return]
                                  options=options)
    raise PreconditionFailed(f"job kind {kind} has no start RPC on proda serve; it runs only when the Studio "
                             "hosts the operations (stop proda serve, then restart the Studio)")


class ClientOperations:
    """``proda serve`` owns the store: every operation call goes to it over gRPC (a thread per call)."""

    mode = "client"

    def __init__(self, client: Any, address: str, registry: JobRegistry) -> None:
        self.client = client
        self.address = address
        self.registry = registry

    def kinds(self) -> list[str]:
        return [k for k in self.registry.names() if not k.startswith("studio.")]

    async def submit(self, kind: str, values: Mapping[str, Any]) -> OperationRecord:
        spec = self.registry.validate(kind, values)  # the same words as the server's, before any call
        return await asyncio.to_thread(_start_remote, self.client, kind, spec)

    async def get(self, operation_id: str) -> OperationRecord:
        return await asyncio.to_thread(self.client.operation, operation_id)

    async def find(self, *, kind: str | None = None, state: OperationState | None = None, limit: int = 20,
                   after: tuple[float, str] | None = None) -> Page:
        def first_page() -> list[OperationRecord]:
            # ListOperations pages by its own tokens; the Studio shows the newest page and skips on from there
            out: list[OperationRecord] = []
            for record in self.client.list_operations(kind=kind, state=state, page_size=min(200, limit + 1)):
                if after is not None and (record.create_time, record.id) >= after:
                    continue
                out.append(record)
                if len(out) > limit:
                    break
            return out

        records = await asyncio.to_thread(first_page)
        page = records[:limit]
        return Page(page, (page[-1].create_time, page[-1].id) if len(records) > limit and page else None)

    async def cancel(self, operation_id: str) -> OperationRecord:
        return await asyncio.to_thread(self.client.cancel, operation_id)

    async def resume(self, operation_id: str) -> OperationRecord:
        return await asyncio.to_thread(self.client.resume, operation_id)

    async def watch(self, operation_id: str,
                    after: int = 0) -> AsyncIterator[tuple[OperationEvent, OperationRecord | None]]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        done = object()

        def pump() -> None:
            try:
                for item in self.client.watch(operation_id, after):
                    if stop.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, item)
            except Exception as e:  # noqa: BLE001  # handed to the reading coroutine, which raises it
                loop.call_soon_threadsafe(queue.put_nowait, e)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, done)

        thread = threading.Thread(target=pump, name=f"watch {operation_id}", daemon=True)
        thread.start()
        try:
            while True:
                item = await queue.get()
                if item is done:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


async def open_operations(settings: Settings, store: GraphStore, *, grpc_port: int = 0,
                          max_jobs: int | None = None) -> Operations:
    """Host the operations if this PRODA_HOME has no owner, else become a client of the owning server.

    Raises :class:`~proda.services.ownership.OperationsOwned` when the owner has not said where it listens
    (it is still starting) and :class:`~proda.errors.ConfigError` when the gRPC port cannot be bound.
    """
    try:
        return await HostedOperations.start(settings, store, grpc_port=grpc_port, max_jobs=max_jobs)
    except OperationsOwned as e:
        owner = e.owner or read_owner(settings.home.resolve())
        if owner is None or not owner.address:
            raise
        from proda.services.client import ProdaClient

        tokens = settings.bearer_tokens()
        token = settings.api_token.get_secret_value() if settings.api_token else (tokens[0] if tokens else None)
        client = ProdaClient(owner.address, token=token)
        return ClientOperations(client, owner.address, studio_registry())


class ReadOnlyOperations:
    """``--read-only``: the operation store read straight from its file (SQLite opened read-only), never
    written, so a read-only Studio can sit beside any owner, or none, without becoming a writer."""

    mode = "read-only"
    address = ""
    POLL_S = 0.5

    def __init__(self, path: Any, registry: JobRegistry) -> None:
        self.path = path
        self.registry = registry
        self._store: Any = None

    def _open(self) -> Any:
        if self._store is None:
            import sqlite3

            from proda.services.operations import OperationStore

            if not self.path.is_file():
                return None
            store = OperationStore.__new__(OperationStore)  # its reads, over a connection that cannot write
            store.path = self.path
            store._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False,
                                        isolation_level=None)
            store._db.row_factory = sqlite3.Row
            store._lock = threading.Lock()
            self._store = store
        return self._store

    def kinds(self) -> list[str]:
        return self.registry.names()

    async def submit(self, kind: str, values: Mapping[str, Any]) -> OperationRecord:
        raise PreconditionFailed("this Studio is read-only (--read-only): it starts no job")

    async def get(self, operation_id: str) -> OperationRecord:
        from proda.errors import NotFound

        store = self._open()
        if store is None:
            raise NotFound(f"no operation {operation_id!r}")
        return await asyncio.to_thread(store.get, operation_id)

    async def find(self, *, kind: str | None = None, state: OperationState | None = None, limit: int = 20,
                   after: tuple[float, str] | None = None) -> Page:
        store = self._open()
        if store is None:
            return Page([], None)
        records = await asyncio.to_thread(store.find, kind=kind, state=state, limit=limit + 1, after=after)
        page = records[:limit]
        return Page(page, (page[-1].create_time, page[-1].id) if len(records) > limit and page else None)

    async def cancel(self, operation_id: str) -> OperationRecord:
        raise PreconditionFailed("this Studio is read-only (--read-only): it cancels nothing")

    async def resume(self, operation_id: str) -> OperationRecord:
        raise PreconditionFailed("this Studio is read-only (--read-only): it resumes nothing")

    async def watch(self, operation_id: str,
                    after: int = 0) -> AsyncIterator[tuple[OperationEvent, OperationRecord | None]]:
        # the owner's live queue is in its process: here the stored events are polled
        last = after
        while True:
            record = await self.get(operation_id)
            for event in await asyncio.to_thread(self._store.events, operation_id, last):
                last = event.sequence
                yield event, (record if event.kind == "state" else None)
            if record.done:
                return
            await asyncio.sleep(self.POLL_S)

    async def close(self) -> None:
        if self._store is not None:
            self._store._db.close()
