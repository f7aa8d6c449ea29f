"""Runs operations: a queue, a bounded number of worker processes, cancellation, waiting and watching.

Everything here runs on the server's event loop and never blocks it: a job is a separate process
(:mod:`proda.services.worker`) whose pipes are read asynchronously, and the SQLite writes are a few
short statements per event. The supervisor is the only writer of the :class:`OperationStore`.

Restart semantics: at start, an operation the store still shows RUNNING was interrupted (the server
died or was stopped under it) and becomes FAILED with a resumable ABORTED error; QUEUED ones are
queued again. At shutdown, running jobs are stopped the same way, so a later ``ResumeOperation``
runs them again and the stage resumes where it stopped.

What an operation holds is readable by every client, so tracebacks stay out of it: the worker sends
them as ``trace`` events, and a traceback the job's process prints (an uncaught error in a thread, a
library that prints its own) is taken out of its output; both go to this server's log under an error
id, and the operation's log names that id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from proda.errors import PreconditionFailed
from proda.schema.store.base import StoreSpec
from proda.services.errors import new_error_id
from proda.services.jobs import MAX_RESULT_BYTES, JobRegistry, ResultNotJSON, result_text
from proda.services.operations import (
    OperationError,
    OperationEvent,
    OperationRecord,
    OperationState,
    OperationStore,
    Progress,
)

log = logging.getLogger(__name__)

MAX_LOG_EVENTS = 10_000  # per attempt; later log lines are counted, not kept
MAX_LINE_CHARS = 4096
MAX_WAIT_S = 600.0
_READ_CHUNK = 1 << 16
_QUEUE_DEPTH = 1024  # events buffered per watcher before it falls back to reading the store
MAX_TRACE_LINES = 2000  # of one traceback in a worker's output; the rest is dropped, not shown
# How Python's tracebacks are laid out: a header naming the call order ("Traceback (most recent call
# last):", faulthandler's "Current thread 0x... (most recent call first):"), indented frames, the
# exception's line, and the sentences that chain one traceback to the next.
_TRACE_HEADER = re.compile(r"\(most recent call (last|first)\):\s*$")
_TRACE_CHAIN = ("During handling of the above exception", "The above exception was the direct cause")
_EXCEPTION_NAME = re.compile(r"^([A-Za-z_][\w.]*)(:|$)")


@dataclass(eq=False)  # identity semantics: watchers live in sets
class _Watcher:
    queue: asyncio.Queue[OperationEvent] = field(default_factory=lambda: asyncio.Queue(_QUEUE_DEPTH))
    lagged: bool = False


@dataclass
class _Run:
    """A worker process of one attempt, as the supervisor tracks it."""

    record: OperationRecord
    task: asyncio.Task[None] | None = None
    process: asyncio.subprocess.Process | None = None
    stop_reason: OperationError | None = None  # set by cancel/shutdown before the process is stopped
    stop_state: OperationState | None = None
    log_events: int = 0
    outcome: dict[str, Any] | None = None


class Supervisor:
    """Accepts, schedules, runs, cancels and reports operations."""

    def __init__(self, store: OperationStore, registry: JobRegistry, *, graph: StoreSpec, home: Path,
                 max_jobs: int = 2, stop_grace_s: float = 5.0, python: str = sys.executable,
                 env: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.registry = registry
        self.graph = graph
        self.home = home
        self.max_jobs = max_jobs
        self.stop_grace_s = stop_grace_s
        self.python = python
        self.env = dict(env) if env is not None else None
        self._slots: asyncio.Semaphore | None = None
        self._runs: dict[str, _Run] = {}
        self._watchers: dict[str, set[_Watcher]] = {}
        self._closing = False

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Mark operations interrupted by the last server as failed-resumable and queue the waiting ones."""
        self._slots = asyncio.Semaphore(self.max_jobs)
        for record in self.store.in_state(OperationState.RUNNING):
            self._finish(record, OperationState.FAILED, error=OperationError(
                "ABORTED", f"interrupted: the server stopped while attempt {record.attempt} ran; "
                           "ResumeOperation runs it again and the stage resumes where it stopped", True))
        for record in self.store.in_state(OperationState.QUEUED):
            self._schedule(record)

    async def shutdown(self) -> None:
        """Stop every running job (FAILED, resumable); queued operations stay queued for the next start."""
        self._closing = True
        reason = OperationError("ABORTED", "interrupted: the server shut down; ResumeOperation runs it again", True)
        runs = list(self._runs.values())
        for run in runs:
            if run.process is not None:
                await self._stop(run, OperationState.FAILED, reason)
            elif run.task is not None:
                run.task.cancel()
        for run in runs:
            if run.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await run.task

    # -- requests ------------------------------------------------------------------------------------
    async def submit(self, kind: str, values: Mapping[str, Any], request_id: str | None) -> OperationRecord:
        """Validate and accept a job; returns its operation (the existing one for a repeated request_id).

        Raises :class:`~proda.errors.PreconditionFailed` for a kind that is not installed and
        :class:`~proda.errors.InputError` for bad parameters or a reused request_id.
        """
        if self._closing:
            raise PreconditionFailed("the server is shutting down and accepts no new operations")
        spec = self.registry.validate(kind, values)
        record, created = self.store.create(kind, spec, request_id)
        if created:
            self._event(record.id, "state", {"state": record.state.value})
            self._schedule(record)
        return record

    def get(self, operation_id: str) -> OperationRecord:
        """The operation; raises :class:`~proda.errors.NotFound`."""
        return self.store.get(operation_id)

    def find(self, **filters: Any) -> list[OperationRecord]:
        """Operations newest first (see :meth:`OperationStore.find`)."""
        return self.store.find(**filters)

    async def cancel(self, operation_id: str) -> OperationRecord:
        """Cancel a queued or running operation and return it once its worker is gone."""
        record = self.store.get(operation_id)
        if record.state == OperationState.CANCELLED:
            return record
        if record.done:
            raise PreconditionFailed(f"operation {operation_id} already {record.state.value}; nothing to cancel")
        reason = OperationError("CANCELLED", "cancelled by a CancelOperation request", True)
        run = self._runs.get(operation_id)
        if run is not None and run.process is not None:
            await self._stop(run, OperationState.CANCELLED, reason)
            if run.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await run.task
        else:
            if run is not None and run.task is not None:
                run.task.cancel()
            self._finish(record, OperationState.CANCELLED, error=reason)
        return self.store.get(operation_id)

    async def resume(self, operation_id: str) -> OperationRecord:
        """Queue a failed-resumable or cancelled operation again as its next attempt."""
        record = self.store.get(operation_id)
        resumable = record.state == OperationState.CANCELLED or (
            record.state == OperationState.FAILED and record.error is not None and record.error.resumable)
        if not resumable:
            why = ("its error is not resumable" if record.state == OperationState.FAILED
                   else f"it is {record.state.value}")
            raise PreconditionFailed(f"operation {operation_id} cannot be resumed: {why}")
        self.registry.get(record.kind)  # the kind may have been uninstalled since
        record = self.store.save(replace(record, state=OperationState.QUEUED, attempt=record.attempt + 1,
                                         progress=Progress(), result=None, error=None, start_time=None,
                                         end_time=None, worker_pid=None))
        self._event(record.id, "state", {"state": record.state.value, "attempt": record.attempt})
        self._schedule(record)
        return record

    async def wait(self, operation_id: str, timeout_s: float | None) -> OperationRecord:
        """The operation once done, or as it is when ``timeout_s`` (at most 10 minutes) has passed."""
        limit = MAX_WAIT_S if timeout_s is None or timeout_s <= 0 else min(timeout_s, MAX_WAIT_S)
        watcher = self._subscribe(operation_id)
        try:
            record = self.store.get(operation_id)
            deadline = time.monotonic() + limit
            while not record.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watcher.queue.get(), timeout=left)
                record = self.store.get(operation_id)
            return record
        finally:
            self._unsubscribe(operation_id, watcher)

    async def watch(self, operation_id: str,
                    after: int = 0) -> AsyncIterator[tuple[OperationEvent, OperationRecord | None]]:
        """Events after sequence ``after``: the stored history, then live ones until the operation is done.

        Yields each event with the operation's current record after a state event (None otherwise).
        """
        watcher = self._subscribe(operation_id)
        try:
            self.store.get(operation_id)  # NotFound before anything is streamed
            last = after
            while True:
                for event in self.store.events(operation_id, after=last):
                    last = event.sequence
                    yield event, (self.store.get(operation_id) if event.kind == "state" else None)
                watcher.lagged = False
                if self.store.get(operation_id).done:
                    return
                # live events; a watcher that fell behind re-reads the store from its last sequence
                while not watcher.lagged:
                    event = await watcher.queue.get()
                    if event.sequence <= last:
                        continue
                    last = event.sequence
                    yield event, (self.store.get(operation_id) if event.kind == "state" else None)
                    if event.final_state and self.store.get(operation_id).done:
                        return
                while not watcher.queue.empty():
                    watcher.queue.get_nowait()
        finally:
            self._unsubscribe(operation_id, watcher)

    # -- events --------------------------------------------------------------------------------------
    def _subscribe(self, operation_id: str) -> _Watcher:
        watcher = _Watcher()
        self._watchers.setdefault(operation_id, set()).add(watcher)
        return watcher

    def _unsubscribe(self, operation_id: str, watcher: _Watcher) -> None:
        watchers = self._watchers.get(operation_id)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[operation_id]

    def _event(self, operation_id: str, kind: Any, payload: dict[str, Any]) -> OperationEvent:
        event = self.store.append_event(operation_id, kind, payload)
        for watcher in self._watchers.get(operation_id, ()):
            try:
                watcher.queue.put_nowait(event)
            except asyncio.QueueFull:
                watcher.lagged = True
        return event

    def _finish(self, record: OperationRecord, state: OperationState, *, result: dict[str, Any] | None = None,
                error: OperationError | None = None) -> OperationRecord:
        record = self.store.save(replace(record, state=state, result=result, error=error, end_time=time.time(),
                                         worker_pid=None))
        payload: dict[str, Any] = {"state": state.value}
        if error is not None:
            payload["error"] = asdict(error)
        self._event(record.id, "state", payload)
        return record

    # -- running -------------------------------------------------------------------------------------
    def _schedule(self, record: OperationRecord) -> None:
        run = _Run(record)
        self._runs[record.id] = run
        run.task = asyncio.get_running_loop().create_task(self._run(run), name=f"operation {record.id}")

    async def _run(self, run: _Run) -> None:
        assert self._slots is not None, "Supervisor.start() was not awaited"
        try:
            async with self._slots:
                record = self.store.get(run.record.id)
                if record.state != OperationState.QUEUED or self._closing:
                    return  # cancelled while it waited
                await self._attempt(run, record)
        except asyncio.CancelledError:
            pass  # cancelled while queued (the record says so) or server shutdown (stays queued)
        except Exception:
            # a supervisor bug must not leave the operation RUNNING forever
            error_id = new_error_id()
            log.exception("supervising operation %s failed (error id %s)", run.record.id, error_id)
            record = self.store.get(run.record.id)
            if not record.done:
                self._finish(record, OperationState.FAILED, error=OperationError(
                    "INTERNAL", f"the server failed while supervising the job; error id {error_id}", True))
        finally:
            self._runs.pop(run.record.id, None)

    async def _attempt(self, run: _Run, record: OperationRecord) -> None:
        kind = self.registry.get(record.kind)
        read_events, write_events = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                self.python, "-m", "proda.services.worker", "--events-fd", str(write_events),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                pass_fds=(write_events,), start_new_session=True, env=self.env)
        except BaseException:
            os.close(read_events)
            raise
        finally:
            os.close(write_events)
        run.process = process
        record = self.store.save(replace(record, state=OperationState.RUNNING, start_time=time.time(),
                                         worker_pid=process.pid))
        run.record = record
        self._event(record.id, "state", {"state": record.state.value, "attempt": record.attempt})
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        job = {"operation_id": record.id, "attempt": record.attempt, "kind": record.kind, "target": kind.target,
               "spec": record.spec, "home": str(self.home), "store": asdict(self.graph)}
        process.stdin.write((json.dumps(job) + "\n").encode())
        with contextlib.suppress(ConnectionError):
            await process.stdin.drain()
        # stdin stays open: its end-of-file is how the worker learns that the server died

        events = asyncio.StreamReader(limit=2 * MAX_RESULT_BYTES)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(events),
                                                    os.fdopen(read_events, "rb"))
        try:
            await asyncio.gather(self._read_events(run, events), self._read_output(run, process.stdout, "stdout"),
                                 self._read_output(run, process.stderr, "stderr"))
            status = await process.wait()
        finally:
            transport.close()
            if process.returncode is None:  # cancelled mid-way (shutdown): never leave the job behind
                self._kill(process)
                await process.wait()
            process.stdin.close()
        self._conclude(run, status)

    def _conclude(self, run: _Run, status: int) -> None:
        record = self.store.get(run.record.id)
        # a result reported before a cancel or shutdown took effect stands: stopping is best effort
        if run.outcome is not None and run.outcome["t"] == "result":
            result = run.outcome["result"]
            try:  # the worker checked it too; what is stored and served is checked here, whatever sent it
                size = len(result_text(record.kind, result).encode())
            except ResultNotJSON as e:
                error_id = new_error_id()
                log.error("operation %s: %s (error id %s)", record.id, e, error_id)
                self._finish(record, OperationState.FAILED, error=OperationError(
                    "INTERNAL", f"internal error; error id {error_id}: {e}", False))
                return
            if size > MAX_RESULT_BYTES:
                self._finish(record, OperationState.FAILED, error=OperationError(
                    "RESOURCE_EXHAUSTED", f"the job's result exceeds {MAX_RESULT_BYTES} bytes", False))
            else:
                self._finish(record, OperationState.SUCCEEDED, result=result)
        elif run.stop_state is not None:
            self._finish(record, run.stop_state, error=run.stop_reason)
        elif run.outcome is not None:
            out = run.outcome
            self._finish(record, OperationState.FAILED, error=OperationError(
                str(out.get("code", "UNKNOWN")), str(out.get("message", "")), bool(out.get("resumable", False))))
        else:
            how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
            self._finish(record, OperationState.FAILED, error=OperationError(
                "ABORTED", f"the worker process {how} before reporting a result", True))

    async def _read_events(self, run: _Run, stream: asyncio.StreamReader) -> None:
        async for raw in _lines(stream, limit=2 * MAX_RESULT_BYTES):
            try:
                message = json.loads(raw)
            except json.JSONDecodeError:
                self._log(run, "WARNING", "worker", f"unreadable event from the worker: {raw[:200]!r}")
                continue
            kind = message.get("t") if isinstance(message, dict) else None
            if kind == "progress":
                progress = Progress(int(message.get("done", 0)), int(message.get("total", 0)),
                                    str(message.get("message", ""))[:MAX_LINE_CHARS])
                run.record = self.store.save(replace(self.store.get(run.record.id), progress=progress))
                self._event(run.record.id, "progress", asdict(progress))
            elif kind == "log":
                self._log(run, str(message.get("level", "INFO")), str(message.get("source", "job")),
                          str(message.get("message", "")))
            elif kind == "trace":  # the server's log only: never an event of the operation
                log.error("operation %s (%s, attempt %s): %s (error id %s)\n%s", run.record.id, run.record.kind,
                          run.record.attempt, message.get("message", ""), message.get("error_id", "?"),
                          str(message.get("traceback", "")).rstrip())
            elif kind in ("result", "error"):
                run.outcome = message

    async def _read_output(self, run: _Run, stream: asyncio.StreamReader, source: str) -> None:
        level = "INFO" if source == "stdout" else "WARNING"
        trace: list[str] = []  # the traceback being read, taken out of the output
        raised = False  # whether that traceback has reached its exception's line
        async for raw in _lines(stream, limit=MAX_LINE_CHARS):
            line = raw.decode("utf-8", "replace").rstrip()
            if trace:
                if not line or line[0].isspace():  # a frame, its source line, a blank between chained parts
                    if len(trace) < MAX_TRACE_LINES:
                        trace.append(line)
                    continue
                if line.startswith(_TRACE_CHAIN) or _TRACE_HEADER.search(line):  # the next traceback of a chain
                    trace.append(line)
                    raised = False
                    continue
                if not raised:  # the exception's own line ends the frames
                    trace.append(line)
                    raised = True
                    continue
                self._divert(run, source, trace)
                trace = []
            if _TRACE_HEADER.search(line):
                trace, raised = [line], False
            elif line:
                self._log(run, level, source, line)
        if trace:
            self._divert(run, source, trace)

    def _divert(self, run: _Run, source: str, trace: list[str]) -> None:
        """A traceback from a worker's output: to the server log under a new error id; the operation's
        log gets one line naming the exception's type and the id."""
        error_id = new_error_id()
        text = "\n".join(trace).rstrip()
        log.error("operation %s (%s, attempt %s): a traceback on the worker's %s (error id %s)\n%s", run.record.id,
                  run.record.kind, run.record.attempt, source, error_id, text)
        names = [m.group(1) for m in map(_EXCEPTION_NAME.match, trace[1:]) if m and not _TRACE_HEADER.search(m.string)]
        what = f"{names[-1]} raised" if names else "a traceback was printed"
        self._log(run, "ERROR", source, f"{what}; error id {error_id} (the server log has the traceback)")

    def _log(self, run: _Run, level: str, source: str, message: str) -> None:
        run.log_events += 1
        if run.log_events > MAX_LOG_EVENTS:
            if run.log_events == MAX_LOG_EVENTS + 1:
                self._event(run.record.id, "log", {"level": "WARNING", "source": "server",
                                                   "message": f"more than {MAX_LOG_EVENTS} log lines: the rest "
                                                              "are not kept"})
            return
        self._event(run.record.id, "log", {"level": level, "source": source, "message": message[:MAX_LINE_CHARS]})

    async def _stop(self, run: _Run, state: OperationState, reason: OperationError) -> None:
        """Terminate a running worker's process group (SIGTERM, then SIGKILL after the grace period)."""
        run.stop_state, run.stop_reason = state, reason
        process = run.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), timeout=self.stop_grace_s)
        except TimeoutError:
            self._kill(process)
            await process.wait()
        # the job's own children (a Ray worker, a model server) live in the same group
        self._kill(process)

    @staticmethod
    def _kill(process: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


async def _lines(stream: asyncio.StreamReader, limit: int) -> AsyncIterator[bytes]:
    """Lines of ``stream`` (without the newline); a line longer than ``limit`` is cut, not fatal."""
    pending = b""
    while True:
        chunk = await stream.read(_READ_CHUNK)
        if not chunk:
            if pending:
                yield pending[:limit]
            return
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line[:limit]
        if len(pending) > 4 * limit:  # a runaway line: keep its head, drop the rest as it comes
            pending = pending[:limit]
