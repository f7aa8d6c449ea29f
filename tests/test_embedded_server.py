"""The embedded FalkorDB lifecycle against the real server binary: start, reuse, persist, recover, stop.

Every test owns a PRODA home, so it starts its own server; the fixture terminates whatever a test
left running in that home (and only that: it matches the home's ``redis.conf`` on the command line).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from proda.config import Settings
from proda.errors import GraphUnavailable
from proda.schema.store import EmbeddedFalkorDB, FalkorDBStore, ServerInfo, open_store


def _servers_of(server: EmbeddedFalkorDB) -> list[psutil.Process]:
    """Live redis-server processes serving this home's data directory.

    redis-server rewrites its command line to ``redis-server 127.0.0.1:PORT``, so the process is
    recognised by its working directory, which it sets to the configured ``dir``.
    """
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "redis-server":
            continue
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and proc.cwd() == str(server.data_dir):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedFalkorDB]:
    """An EmbeddedFalkorDB in its own home; any server it left running is terminated afterwards."""
    server = EmbeddedFalkorDB(tmp_path / "home")
    yield server
    for proc in _servers_of(server):
        proc.terminate()
        try:
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()


def _closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client(info: ServerInfo) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=info.port, password=info.password, decode_responses=True)


def _pings(info: ServerInfo) -> bool:
    client = _client(info)
    try:
        return bool(client.ping())
    finally:
        client.close()


def _store(info: ServerInfo) -> FalkorDBStore:
    return FalkorDBStore("127.0.0.1", info.port, "persist", password=info.password)


def _write_marker(info: ServerInfo, name: str) -> None:
    store = _store(info)
    try:
        store.run("CREATE (:Concept {id: $id, name: $name})", {"id": f"con_{name}", "name": name},
                  read_only=False)
    finally:
        store.close()


def _marker_names(info: ServerInfo) -> list[str]:
    store = _store(info)
    try:
        return [r["name"] for r in store.run("MATCH (c:Concept) RETURN c.name AS name ORDER BY name")]
    finally:
        store.close()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _write_state(server: EmbeddedFalkorDB, pid: int, port: int) -> None:
    server.root.mkdir(parents=True, exist_ok=True)
    server.state_file.write_text(json.dumps({
        "pid": pid, "port": port, "password": "stale", "data_dir": str(server.data_dir), "started_at": 0.0,
    }))


def test_started_server_is_private_persistent_and_reused(embedded: EmbeddedFalkorDB) -> None:
    info, started = embedded.ensure_running()
    assert started is True
    client = _client(info)
    try:
        assert client.ping() is True
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("appendonly")["appendonly"] == "yes"
    finally:
        client.close()
    listening = {c.laddr.ip for c in psutil.Process(info.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}
    anonymous = redis.Redis(host="127.0.0.1", port=info.port, retry=None)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()
    anonymous.close()
    # the state file and the config both hold the password
    assert stat.S_IMODE(embedded.state_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(embedded.conf_file.stat().st_mode) == 0o600
    assert embedded.status() == info

    again, started_again = embedded.ensure_running()
    assert started_again is False
    assert again.pid == info.pid
    assert again.port == info.port
    assert [p.pid for p in _servers_of(embedded)] == [info.pid]


def test_data_survives_stop_and_start(embedded: EmbeddedFalkorDB) -> None:
    info, _ = embedded.ensure_running()
    _write_marker(info, "kept")
    assert embedded.stop() is True
    assert not psutil.pid_exists(info.pid)
    assert embedded.status() is None

    info2, started = embedded.ensure_running()
    assert started is True
    assert info2.pid != info.pid
    assert _marker_names(info2) == ["kept"]


def test_compact_rewrites_the_write_history_as_one_snapshot_that_a_new_server_loads(
        embedded: EmbeddedFalkorDB) -> None:
    info, _ = embedded.ensure_running()
    for n in range(200):  # 200 separate writes: a history far larger than the data it leaves
        _write_marker(info, f"m{n:03d}")
    before = sum(f.stat().st_size for f in embedded.data_dir.rglob("*") if f.is_file())
    after = embedded.compact()
    assert 0 < after < before
    assert embedded.stop() is True
    info2, _ = embedded.ensure_running()
    assert _marker_names(info2) == [f"m{n:03d}" for n in range(200)]


def test_compact_without_a_server_names_the_data_directory(embedded: EmbeddedFalkorDB) -> None:
    with pytest.raises(GraphUnavailable, match=str(embedded.data_dir)):
        embedded.compact()


def test_state_file_of_a_dead_process_is_replaced(embedded: EmbeddedFalkorDB) -> None:
    _write_state(embedded, _dead_pid(), _closed_port())
    assert embedded.status() is None

    info, started = embedded.ensure_running()
    assert started is True
    assert _pings(info)
    assert json.loads(embedded.state_file.read_text())["pid"] == info.pid
    assert stat.S_IMODE(embedded.state_file.stat().st_mode) == 0o600


def test_state_file_naming_a_live_stranger_on_a_closed_port_is_replaced_without_killing_it(
        embedded: EmbeddedFalkorDB) -> None:
    # the pid was reused by an unrelated process: the port check must catch it, and it must live on
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        _write_state(embedded, stranger.pid, _closed_port())
        info, started = embedded.ensure_running()
        assert started is True
        assert info.pid != stranger.pid
        assert _pings(info)
        assert stranger.poll() is None, "ensure_running killed a process that was not its server"
    finally:
        stranger.kill()
        stranger.wait()


def test_server_killed_with_sigkill_is_replaced_and_keeps_written_data(embedded: EmbeddedFalkorDB) -> None:
    info, _ = embedded.ensure_running()
    _write_marker(info, "before crash")
    connected = _store(info)
    time.sleep(1.5)  # appendfsync everysec: give the server its fsync
    os.kill(info.pid, signal.SIGKILL)
    psutil.Process(info.pid).wait(10)  # reap our child, as a crashed server's parent would be gone
    assert embedded.status() is None
    # a store connected before the crash reports the dead server as unavailable, naming it
    with pytest.raises(GraphUnavailable, match=f"falkordb://127.0.0.1:{info.port}"):
        connected.query("discipline_counts", {})
    connected.close()

    info2, started = embedded.ensure_running()
    assert started is True
    assert info2.pid != info.pid
    assert _marker_names(info2) == ["before crash"]


def test_stop_when_nothing_runs_returns_false(embedded: EmbeddedFalkorDB) -> None:
    assert embedded.stop() is False
    _write_state(embedded, _dead_pid(), _closed_port())
    assert embedded.stop() is False
    assert not embedded.state_file.exists()


def test_open_store_stops_only_the_server_it_started(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, graph_url=None, graph_name="openstore")
    server = EmbeddedFalkorDB(home)
    try:
        with open_store(settings) as store:
            store.run("CREATE (:Concept {id: 'con_a', name: 'a'})", read_only=False)
            running = server.status()
            assert running is not None
        assert server.status() is None
        assert not psutil.pid_exists(running.pid)

        before, _ = server.ensure_running()
        with open_store(settings) as store:
            rows = store.run("MATCH (c:Concept) RETURN c.name AS name")
            assert rows == [{"name": "a"}]  # the data written through the first store persisted
        assert server.status() == before
    finally:
        for proc in _servers_of(server):
            proc.terminate()
            proc.wait(10)


def test_store_on_a_dead_port_raises_graph_unavailable_naming_the_url() -> None:
    port = _closed_port()
    with pytest.raises(GraphUnavailable, match=f"falkordb://127.0.0.1:{port}"):
        FalkorDBStore("127.0.0.1", port, "nothing").ping()


def test_recorded_server_that_does_not_answer_is_stopped_before_another_starts(
        embedded: EmbeddedFalkorDB) -> None:
    info, _ = embedded.ensure_running()
    # the recorded server no longer answers to us (here: the state file's password does not match)
    state = json.loads(embedded.state_file.read_text())
    embedded.state_file.write_text(json.dumps(state | {"password": "not-the-password"}))
    new, started = embedded.ensure_running()
    assert started is True
    # two servers appending to one append-only file would corrupt it
    assert [p.pid for p in _servers_of(embedded)] == [new.pid]
    assert info.pid != new.pid


def test_stop_returns_promptly(embedded: EmbeddedFalkorDB) -> None:
    embedded.ensure_running()
    t0 = time.monotonic()
    assert embedded.stop() is True
    # the server itself exits in ~0.1 s on SHUTDOWN/SIGTERM; every one-shot CLI command pays this wait
    assert time.monotonic() - t0 < 1.5


def test_stop_with_a_stale_state_file_leaves_an_unrelated_process_alive(embedded: EmbeddedFalkorDB) -> None:
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        _write_state(embedded, stranger.pid, _closed_port())
        embedded.stop(timeout_s=0.5)
        assert stranger.poll() is None, "stop() killed a process that was not its server"
    finally:
        stranger.kill()
        stranger.wait()


def test_a_server_too_busy_loading_to_answer_is_waited_for_and_recorded_first(
        embedded: EmbeddedFalkorDB, monkeypatch: pytest.MonkeyPatch) -> None:
    # a large append-only file keeps FalkorDB from answering within the socket timeout; starting must wait
    # for it (not fail) and must have recorded the process, so a second ProDa process reuses it instead
    # of starting another server on the same files
    real = redis.Redis.ping
    stalls = {"left": 3}
    recorded: list[bool] = []

    def ping(self: redis.Redis) -> object:
        recorded.append(embedded.state_file.exists())
        if stalls["left"]:
            stalls["left"] -= 1
            raise redis.exceptions.TimeoutError("Timeout reading from socket")
        return real(self)

    monkeypatch.setattr(redis.Redis, "ping", ping)
    info, started = embedded.ensure_running()
    assert started and stalls["left"] == 0 and all(recorded)
    monkeypatch.setattr(redis.Redis, "ping", real)
    assert embedded.ensure_running() == (info, False)
