"""ProDa Studio over HTTP: the access rules (CSRF, read-only, tokens beyond loopback), and jobs as
durable operations shared with ``proda serve`` (one writer of the store, visible over gRPC, kept
across a restart)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from proda.config import Settings
from proda.errors import ConfigError
from proda.schema.store import FalkorDBStore
from proda.services.client import ProdaClient
from proda.services.ownership import OperationsOwned, read_owner
from proda.services.server import BackgroundServer
from proda.services.studio.security import Guard
from tests.graphs import load_toy
from tests.studio_world import RunningStudio


def _csrf(client: httpx.Client, path: str = "/operations") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match
    return match.group(1)


def _wait(client: httpx.Client, location: str) -> dict[str, object]:
    for _ in range(240):
        body = client.get(f"/api{location}").json()
        if body["done"]:
            return body  # type: ignore[no-any-return]
        time.sleep(0.25)
    raise AssertionError(f"{location} did not finish")


def test_job_is_a_durable_operation_seen_over_grpc_and_after_a_restart(falkordb_store: FalkorDBStore,
                                                                        tmp_path: Path) -> None:
    load_toy(falkordb_store)
    settings = Settings(home=tmp_path)
    with RunningStudio(settings, falkordb_store) as studio, httpx.Client(base_url=studio.url) as client:
        token = _csrf(client)
        started = client.post("/jobs/synthesis.check_structure", data={"csrf": token},
                              headers={"origin": studio.url})
        assert started.status_code == 303, started.text
        location = started.headers["location"]
        op_id = location.rsplit("/", 1)[-1]
        done = _wait(client, location)
        assert done["state"] == "succeeded" and done["result"]
        # the Studio hosts the operations: its gRPC address is in the owner file, and OperationsService lists the job
        owner = read_owner(tmp_path)
        assert owner is not None and owner.role == "proda studio" and owner.address == studio.operations.address
        with ProdaClient(owner.address) as grpc_client:
            assert grpc_client.operation(op_id).state.value == "succeeded"
        # a second owner of the same PRODA_HOME is refused while the Studio runs
        with pytest.raises(OperationsOwned, match="proda studio"):
            BackgroundServer(settings, falkordb_store, port=0).start()
    with RunningStudio(settings, falkordb_store) as again, httpx.Client(base_url=again.url) as client:
        page = client.get(location)
        assert page.status_code == 200 and "succeeded" in page.text


def test_studio_becomes_a_client_when_proda_serve_owns_the_operations(falkordb_store: FalkorDBStore,
                                                                       tmp_path: Path) -> None:
    load_toy(falkordb_store)
    settings = Settings(home=tmp_path)
    with BackgroundServer(settings, falkordb_store, port=0) as server, \
            RunningStudio(settings, falkordb_store) as studio, httpx.Client(base_url=studio.url) as client:
        assert studio.operations.mode == "client" and studio.operations.address == server.address
        started = client.post("/jobs/synthesis.check_structure", data={"csrf": _csrf(client)},
                              headers={"origin": studio.url})
        assert started.status_code == 303
        assert _wait(client, started.headers["location"])["state"] == "succeeded"
        op_id = started.headers["location"].rsplit("/", 1)[-1]
        assert server.server.supervisor.get(op_id).done  # the server's own supervisor ran it
        refused = client.post("/jobs/studio.ingest", data={"csrf": _csrf(client), "paths": str(tmp_path)},
                              headers={"origin": studio.url})
        assert refused.status_code == 409 and "no start RPC" in refused.text


def test_writes_need_the_same_origin_and_the_csrf_token(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    with RunningStudio(Settings(home=tmp_path), falkordb_store) as studio, \
            httpx.Client(base_url=studio.url) as client:
        token = _csrf(client)
        foreign = client.post("/jobs/synthesis.check_structure", data={"csrf": token},
                              headers={"origin": "http://evil.example"})
        assert foreign.status_code == 403 and "cross-origin" in foreign.text
        no_token = client.post("/jobs/synthesis.check_structure", data={}, headers={"origin": studio.url})
        assert no_token.status_code == 403 and "CSRF" in no_token.text
        rebound = client.get("/", headers={"host": "attacker.example"})
        assert rebound.status_code == 400
        bad_setting = client.post("/jobs/studio.ingest", data={"csrf": token, "paths": "/no/such/file"},
                                  headers={"origin": studio.url})
        assert bad_setting.status_code == 400 and "no such file or folder" in bad_setting.text
        assert "Traceback" not in bad_setting.text


def test_read_only_hides_actions_and_refuses_writes(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    load_toy(falkordb_store)
    with RunningStudio(Settings(home=tmp_path), falkordb_store, read_only=True) as studio, \
            httpx.Client(base_url=studio.url) as client:
        for path in ("/", "/corpus", "/bench", "/training", "/debug", "/corpus/merges"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert 'method="post"' not in page.text, path
        token = _csrf(client)
        refused = client.post("/jobs/synthesis.check_structure", data={"csrf": token}, headers={"origin": studio.url})
        assert refused.status_code == 403 and "read-only" in refused.text
    assert not (tmp_path / "operations.sqlite3").exists()  # it never became the store's writer


def test_tokens_guard_every_page_beyond_loopback() -> None:
    guard = Guard(host="0.0.0.0", tokens=["s3cret"])
    assert guard.auth_required and guard.token_ok("s3cret") and not guard.token_ok("s3cre")
    assert guard.bearer_ok("Bearer s3cret") and not guard.bearer_ok("Basic s3cret")
    session = guard.session_value()
    tampered = session[:-1] + ("1" if session[-1] != "1" else "2")
    assert guard.session_ok(session) and not guard.session_ok(tampered)
    assert not Guard(host="0.0.0.0", tokens=["s3cret"]).session_ok(session)  # another process's secret
    assert Guard.same_origin("http://127.0.0.1:8080", None, "127.0.0.1:8080")
    assert not Guard.same_origin(None, None, "127.0.0.1:8080")


def test_cli_refuses_to_bind_beyond_loopback_without_tokens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from proda.cli.main import app

    monkeypatch.delenv("PRODA_API_TOKENS", raising=False)
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "studio", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError) and "PRODA_API_TOKENS" in str(result.exception)
