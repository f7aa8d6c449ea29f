"""The real ``proda`` console script in subprocesses, each with its own PRODA_HOME (shared by CLI tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil


def cli_env(home: Path, graph: str | None, url: str | None) -> dict[str, str]:
    """The caller's environment without any PRODA_ setting, pointed at ``home`` (and graph / URL if given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRODA_")}
    env["PRODA_HOME"] = str(home)
    if graph is not None:
        env["PRODA_GRAPH_NAME"] = graph
    if url is not None:
        env["PRODA_GRAPH_URL"] = url
    return env


def proda(*args: str, home: Path, cwd: Path | None = None, graph: str | None = None,
          url: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``proda ARGS`` as a user would, with its own PRODA_HOME (and graph name / URL if given)."""
    return subprocess.run([sys.executable, "-m", "proda.cli.main", *args], env=cli_env(home, graph, url), cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def proda_concurrently(*commands: tuple[str, ...], home: Path, graph: str | None = None,
                       cwd: Path | None = None) -> list[subprocess.CompletedProcess[str]]:
    """Run independent ``proda`` commands side by side (each start costs a Python start-up)."""
    procs = [subprocess.Popen([sys.executable, "-m", "proda.cli.main", *args], env=cli_env(home, graph, None),
                              cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in commands]
    results = []
    for args, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(list(args), proc.returncode, out, err))
    return results


def servers_of(home: Path) -> list[psutil.Process]:
    """Live redis-servers serving ``home``'s embedded graph.

    redis-server rewrites its command line to ``redis-server 127.0.0.1:PORT``, so the process is
    recognised by its working directory, which it sets to the data directory.
    """
    data_dir = str((home / "falkordb" / "data").absolute())
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "redis-server":
            continue
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and proc.cwd() == data_dir:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def terminate_servers(home: Path) -> None:
    """Stop every embedded server started under ``home``."""
    for proc in servers_of(home):
        proc.terminate()
        try:
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()


def servers_running(home: Path) -> bool:
    """Whether any embedded server of ``home`` is still alive."""
    return bool(servers_of(home))
