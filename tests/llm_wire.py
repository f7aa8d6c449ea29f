"""A loopback HTTP server that speaks the providers' wire formats, replaying recorded responses.

The real ``anthropic`` and ``openai`` SDK clients talk to it over TCP exactly as they would to
api.anthropic.com, api.openai.com or ``vllm serve``: the tests mock no SDK. A test scripts the
replies in order (recorded bodies from ``tests/fixtures/llm/``, optionally delayed to provoke
client timeouts) and then inspects what the server received.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "llm"


@dataclass
class Reply:
    """One scripted HTTP response; ``delay_s`` holds it back (to outlast a client timeout)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Received:
    """One request as the server saw it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def recorded(name: str, *, delay_s: float = 0.0) -> Reply:
    """The recorded response ``tests/fixtures/llm/<name>.json`` (``{"status", "headers", "body"}``)."""
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return Reply(status=data["status"], body=data["body"], headers=dict(data["headers"]), delay_s=delay_s)


def anthropic_tool_use(tool_input: dict[str, Any] | None = None, *, delay_s: float = 0.0) -> Reply:
    """The recorded Messages API tool_use answer, its tool input replaced by ``tool_input`` if given."""
    reply = recorded("anthropic_tool_use", delay_s=delay_s)
    if tool_input is not None:
        reply.body = copy.deepcopy(reply.body)
        reply.body["content"][0]["input"] = tool_input
    return reply


def openai_completion(content: str | None = None, *, delay_s: float = 0.0) -> Reply:
    """The recorded chat.completion, its message content replaced by ``content`` if given."""
    reply = recorded("openai_chat_completion", delay_s=delay_s)
    if content is not None:
        reply.body = copy.deepcopy(reply.body)
        reply.body["choices"][0]["message"]["content"] = content
    return reply


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # the name http.server dispatches to
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        wire = self.server.wire
        wire.record(Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        reply = wire.next_reply(self.path)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test): nothing left to answer

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:  # the base class names it `format`
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    wire: WireServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-answer is expected in timeout tests


class WireServer:
    """A provider stand-in on ``127.0.0.1:<free port>``; use as a context manager.

    ``url`` is its root (``http://127.0.0.1:PORT``); :meth:`script` queues replies answered in
    order; ``received`` lists every request. A request with nothing scripted gets a 400 in the
    provider's error shape, so a test that sends more than it expected fails loudly and is not
    retried.
    """

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.wire = self
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self.received: list[Received] = []
        # A short poll interval keeps shutdown (once per test) from costing half a second.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, *replies: Reply) -> None:
        """Queue ``replies``; each request takes the next one."""
        with self._lock:
            self._replies.extend(replies)

    def record(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)

    def next_reply(self, path: str) -> Reply:
        with self._lock:
            if self._replies:
                return self._replies.pop(0)
        message = f"wire server: no reply scripted for {path}"
        return Reply(400, {"type": "error", "error": {"type": "invalid_request_error", "message": message}})

    @property
    def pending(self) -> int:
        """Scripted replies not yet used."""
        with self._lock:
            return len(self._replies)

    def __enter__(self) -> WireServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
