"""What the gRPC operation tests share: a job kind of their own, ``test.sleep`` (it writes its process
id to a file, prints, logs, reports progress and sleeps, or fails as told, so cancellation and
restarts can be observed on a process that really runs), the registry that holds it, and polling.

Worker processes import ``sleepy`` by its module path, so it lives in a module that a fresh
interpreter started in the repository root can import.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import psutil
import pytest
from pydantic import Field

from proda.errors import GraphUnavailable, InputError
from proda.services.jobs import TRAIN_MODEL, JobContext, JobKind, JobRegistry, JobSpec, default_registry

SLEEP = "test.sleep"


class SleepSpec(JobSpec):
    seconds: float = Field(ge=0, le=120)
    pid_file: str
    fail: Literal["", "input", "graph", "bug"] = ""
    fail_on_attempt: int = 0  # 0: every attempt


def sleepy(spec: dict[str, Any], job: JobContext) -> dict[str, Any]:
    """Test job: announce itself, then sleep with progress reports, or fail as the spec says."""
    params = SleepSpec.model_validate(spec)
    Path(params.pid_file).write_text(str(os.getpid()))
    print(f"sleepy starts attempt {job.attempt}", flush=True)
    logging.getLogger("tests.sleepy").warning("a warning through logging")
    job.log("a line through the job context")
    if params.fail and params.fail_on_attempt in (0, job.attempt):
        if params.fail == "input":
            raise InputError("item 7 is malformed")
        if params.fail == "graph":
            raise GraphUnavailable("FalkorDB at falkordb://nowhere:1 is unreachable")
        raise ZeroDivisionError("a bug")
    end = time.monotonic() + params.seconds
    step = 0
    while time.monotonic() < end:
        step += 1
        job.progress(step, 0, "sleeping", force=True)
        time.sleep(0.1)
    return {"slept": params.seconds, "attempt": job.attempt}


def toy_registry() -> JobRegistry:
    """The default kinds plus ``test.sleep`` (also imported by the subprocess server of the crash test),
    with the training stage declared not installed: a stage that is not there, whatever this machine has."""
    default = default_registry()
    registry = JobRegistry([default.get(name) for name in default.names() if name != TRAIN_MODEL],
                           unavailable={TRAIN_MODEL: "training stage"})
    registry.register(JobKind(SLEEP, f"{__name__}:sleepy", SleepSpec, "test job"))
    return registry


def eventually(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll ``check`` until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout_s} s")
        time.sleep(0.05)


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for its parent counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
