"""Test session fixtures: a real FalkorDB server, started once by the session, and per-test graphs.

The same conformance tests run on Neo4j when ``PRODA_NEO4J_URL`` points at a server; otherwise
the Neo4j parameter is skipped with the reason shown in the summary (``-ra``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from proda.config import Settings
from proda.schema.store import EmbeddedFalkorDB, FalkorDBStore, GraphStore, ServerInfo

NEO4J_URL = os.environ.get("PRODA_NEO4J_URL")


@pytest.fixture(scope="session")
def falkordb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerInfo]:
    """One embedded FalkorDB for the whole session (the real server binary, not a mock)."""
    home = tmp_path_factory.mktemp("proda-home")
    server = EmbeddedFalkorDB(home)
    info, _ = server.ensure_running()
    yield info
    server.stop()


def _falkordb_store(info: ServerInfo) -> FalkorDBStore:
    store = FalkorDBStore("127.0.0.1", info.port, f"test_{uuid.uuid4().hex[:12]}", password=info.password)
    store.ensure_schema()
    return store


@pytest.fixture
def falkordb_store(falkordb_server: ServerInfo) -> Iterator[FalkorDBStore]:
    """A fresh, empty graph on the session's FalkorDB; deleted afterwards."""
    store = _falkordb_store(falkordb_server)
    yield store
    store.clear()
    store.close()


def _neo4j_store() -> GraphStore:
    from proda.schema.store.neo4j_store import Neo4jStore

    assert NEO4J_URL is not None
    settings = Settings(graph_url=NEO4J_URL)
    password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else None
    store = Neo4jStore(NEO4J_URL, settings.neo4j_user, password)
    store.clear()
    return store


@pytest.fixture(params=["falkordb", "neo4j"])
def store(request: pytest.FixtureRequest, falkordb_server: ServerInfo) -> Iterator[GraphStore]:
    """The conformance fixture: every test using it runs on each available backend, on an empty graph."""
    if request.param == "neo4j":
        if not NEO4J_URL:
            pytest.skip("Neo4j conformance skipped: set PRODA_NEO4J_URL (and PRODA_NEO4J_PASSWORD) to run it")
        s = _neo4j_store()
    else:
        s = _falkordb_store(falkordb_server)
    yield s
    s.clear()
    s.close()


@pytest.fixture
def proda_home(tmp_path: Path) -> Path:
    """An empty PRODA_HOME for CLI and loader tests."""
    home = tmp_path / "home"
    home.mkdir()
    return home
