"""Tracebacks stay on the server: a job that fails unexpectedly, logs an exception and prints
tracebacks of its own, over a real in-process server and a real worker process. What a client can
read (the operation's error and every event streamed by WatchOperation) names error ids and never
carries a traceback or a file path; the server's own log holds each traceback under its id.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest

from proda.config import Settings
from proda.schema.store import FalkorDBStore
from proda.services.client import ProdaClient
from proda.services.jobs import JobContext, JobKind, JobSpec, default_registry
from proda.services.operations import OperationState
from proda.services.server import BackgroundServer

BOOM = "test.boom"
ERROR_ID = re.compile(r"err_[0-9a-f]{16}")
# what a traceback looks like, or a place in the server's file system
LEAKS = re.compile(r'Traceback \(most recent call|File "|\.py\b|most recent call first|' + re.escape(str(Path.home())))


class NoSpec(JobSpec):
    pass


def _parse(text: str) -> int:
    return int(text)


def boom(spec: dict[str, Any], job: JobContext) -> dict[str, Any]:
    """Test job: a logged exception, a chained traceback printed on stderr, an uncaught error in a
    thread, a warning, then an unexpected error of its own."""
    try:
        _parse("seven")
    except ValueError:
        logging.getLogger("tests.boom").exception("item 7 could not be read; skipped")
    try:
        try:
            _parse("eight")
        except ValueError as e:
            raise KeyError("item 8") from e
    except KeyError:
        traceback.print_exc()  # what a library that prints its own tracebacks does
    thread = threading.Thread(target=_parse, args=("nine",), name="reader")
    thread.start()
    thread.join()
    import warnings

    warnings.warn("a setting is out of date", UserWarning, stacklevel=1)
    job.log("about to fail")
    return {"n": _parse("ten")}


def test_clients_get_error_ids_and_the_server_log_gets_the_tracebacks(
        falkordb_store: FalkorDBStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    registry = default_registry()
    registry.register(JobKind(BOOM, f"{__name__}:boom", NoSpec, "test job"))
    settings = Settings(home=tmp_path / "home", grpc_port=0, grpc_max_jobs=1)
    caplog.set_level(logging.ERROR, logger="proda.services")
    with BackgroundServer(settings, falkordb_store, registry=registry) as server, \
            ProdaClient(server.address) as client:
        record = server.run_coroutine(server.server.supervisor.submit(BOOM, {}, None), 10)
        events = list(client.watch(record.id, timeout_s=120))
        failed = client.operation(record.id)

    assert failed.state == OperationState.FAILED and failed.error is not None
    assert failed.error.code == "INTERNAL" and not failed.error.resumable
    assert f"job {BOOM} failed: ValueError" in failed.error.message
    [failure_id] = ERROR_ID.findall(failed.error.message)

    # everything a client could read: the error and every streamed event, none with a traceback or a path
    seen = [failed.error.message] + [json.dumps(e.payload) for e, _ in events]
    for text in seen:
        assert not LEAKS.search(text), text
    logs = [e.payload for e, _ in events if e.kind == "log"]
    assert {"level": "INFO", "source": "job", "message": "about to fail"} in logs
    lines = [log["message"] for log in logs]
    [logged] = [m for m in lines if m.startswith("item 7 could not be read; skipped")]
    [printed] = [m for m in lines if m.startswith("KeyError raised")]  # the chained pair, as one traceback
    [in_thread] = [m for m in lines if m.startswith("ValueError raised")]
    assert "UserWarning: a setting is out of date" in lines  # without the file it was raised in
    ids = [failure_id, *(ERROR_ID.findall(m)[0] for m in (logged, printed, in_thread))]
    assert len(set(ids)) == 4

    # the server log: each id with its whole traceback
    server_log = [r.getMessage() for r in caplog.records]
    for error_id, last_line in zip(ids, ("ValueError: invalid literal for int() with base 10: 'ten'",
                                         "ValueError: invalid literal for int() with base 10: 'seven'",
                                         "KeyError: 'item 8'",
                                         "ValueError: invalid literal for int() with base 10: 'nine'"), strict=True):
        [entry] = [m for m in server_log if error_id in m]
        assert "Traceback (most recent call last)" in entry and entry.rstrip().endswith(last_line), entry
        assert str(Path(__file__)) in entry  # the frames, with their files, are the server's to read
    [chained] = [m for m in server_log if ids[2] in m]
    assert "The above exception was the direct cause of the following exception" in chained
