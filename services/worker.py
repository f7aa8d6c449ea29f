"""The process one job runs in: ``python -m proda.services.worker --events-fd N``.

The supervisor starts it in a new session (process group), so cancelling kills the job and anything
it started. The protocol is three pipes:

* stdin: one JSON line with the job (operation id, attempt, target, spec, graph StoreSpec, home).
  Secrets such as the graph password travel here, never in argv or the environment. The server then
  keeps stdin open: end-of-file means the server died, and the worker kills its process group, so no
  orphaned job writes to the graph after a crash.
* fd N: JSON lines from the job to the server: ``progress``, ``log``, ``trace``, then one ``result``
  or ``error``.
* stdout and stderr: whatever the job prints; the server turns each line into a log event.

Tracebacks never become part of the operation, which every client of the server can read: an
unexpected error, or a log record carrying one, gets an error id; the client-visible error or log
line names the id, and the traceback travels as a ``trace`` event that the server writes to its own
log under that id.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import IO, Any

from proda.errors import ProdaError
from proda.schema.store.base import StoreSpec
from proda.services.errors import is_transient, new_error_id, status_for
from proda.services.jobs import MAX_RESULT_BYTES, JobContext, ResultNotJSON, resolve_target, result_text

MAX_LOG_CHARS = 4096


class EventPipe:
    """Thread-safe writer of JSON lines to the server (logging may emit from any thread)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, default=str)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


def report_trace(emit: EventPipe, message: str, trace: str) -> str:
    """Send a traceback to the server's log (never to the operation); returns its new error id."""
    error_id = new_error_id()
    emit({"t": "trace", "error_id": error_id, "message": message[:MAX_LOG_CHARS], "traceback": trace})
    return error_id


class _ForwardLogs(logging.Handler):
    """Python logging inside the job becomes log events of the operation; a record's traceback goes to
    the server's log instead, and the log event names its error id."""

    def __init__(self, emit: EventPipe) -> None:
        super().__init__(logging.INFO)
        self._emit = emit

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            trace = ""
            if record.exc_info and record.exc_info[0] is not None:
                trace = "".join(traceback.format_exception(*record.exc_info))
            if record.stack_info:
                trace += record.stack_info
            if trace:
                error_id = report_trace(self._emit, f"{record.name}: {message}", trace)
                message += f" (error id {error_id}; the server log has the traceback)"
            self._emit({"t": "log", "level": record.levelname, "source": record.name,
                        "message": message[:MAX_LOG_CHARS]})
        except Exception:  # noqa: BLE001  # logging must never take the job down
            self.handleError(record)


def _warn(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: IO[str] | None = None,
          line: str | None = None) -> None:
    """Warnings as log lines without the source location: Python's own format starts with the file's
    path on the server, which is no business of the operation's readers."""
    logging.getLogger("py.warnings").warning("%s: %s", category.__name__, message)


def _die_with_server(stdin: IO[str]) -> None:
    """Block until the server's end of stdin closes, then kill this job's whole process group."""
    stdin.read()
    os.killpg(os.getpgrp(), signal.SIGKILL)


def run(job: dict[str, Any], emit: EventPipe) -> int:
    """Run one job description; reports its result or error through ``emit``; returns the exit status."""
    context = JobContext(operation_id=job["operation_id"], attempt=int(job["attempt"]), home=Path(job["home"]),
                         store_spec=StoreSpec(**job["store"]), emit=emit)
    kind = str(job.get("kind") or job["target"])
    try:
        fn = resolve_target(job["target"])
        text = result_text(kind, fn(job["spec"], context))
        size = len(text.encode())
        if size > MAX_RESULT_BYTES:  # the same run would produce it again: not resumable
            emit({"t": "error", "code": "RESOURCE_EXHAUSTED", "resumable": False,
                  "message": f"the job's result is {size} bytes; results are capped at {MAX_RESULT_BYTES}"})
            return 1
        emit({"t": "result", "result": json.loads(text)})
        return 0
    except Exception as e:  # noqa: BLE001  # every failure is reported to the server, bugs with their traceback
        code = status_for(e)
        if code is None:
            # a bug: the client gets its kind and an error id, the server log the traceback
            error_id = report_trace(emit, f"job {kind} (operation {context.operation_id}, attempt {context.attempt}) "
                                          "failed with an unexpected error", traceback.format_exc())
            # a kind's malformed result is described in ProDa's own words; other errors by their type only,
            # since their text may quote internals (paths, queries, values)
            what = str(e) if isinstance(e, ResultNotJSON) else f"job {kind} failed: {type(e).__name__}"
            emit({"t": "error", "code": "INTERNAL", "resumable": False,
                  "message": f"internal error; error id {error_id}: {what} (the server log has the details)"})
        else:
            emit({"t": "error", "code": code.name, "message": str(e), "resumable": is_transient(e)})
        return 1
    finally:
        with contextlib.suppress(ProdaError):  # the graph went away: the outcome above says what happened
            context.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker process (started by the supervisor, not by people)."""
    parser = argparse.ArgumentParser(prog="python -m proda.services.worker", description=__doc__)
    parser.add_argument("--events-fd", type=int, required=True, help="file descriptor of the event pipe")
    args = parser.parse_args(argv)
    emit = EventPipe(os.fdopen(args.events_fd, "w", encoding="utf-8"))
    job = json.loads(sys.stdin.readline())
    threading.Thread(target=_die_with_server, args=(sys.stdin,), name="server-watch", daemon=True).start()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(_ForwardLogs(emit))
    warnings.showwarning = _warn
    return run(job, emit)


if __name__ == "__main__":
    sys.exit(main())
