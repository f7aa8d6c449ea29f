"""Test session fixtures: a real FalkorDB server, started once by the session, and per-test graphs.

The same conformance tests run on Neo4j when ``PRODA_NEO4J_URL`` points at a server; otherwise
the Neo4j parameter is skipped with the reason shown in the summary (``-ra``).

A conformance test is one that uses the parametrised ``store`` fixture (it is marked
``conformance`` at collection, so ``pytest -m conformance`` runs exactly those). The session counts
which catalog queries those tests really executed; a run that includes every conformance test
fails when a catalog query never ran in one (see ``pytest_sessionfinish`` below).
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from proda.config import Settings
from proda.schema.catalog import default_catalog
from proda.schema.store import EmbeddedFalkorDB, FalkorDBStore, GraphStore, ServerInfo
from proda.schema.store.base import executed_queries
from tests.console import proda, terminate_servers
from tests.llm_wire import WireServer

NEO4J_URL = os.environ.get("PRODA_NEO4J_URL")


@pytest.fixture(scope="session")
def falkordb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerInfo]:
    """One embedded FalkorDB for the whole session (the real server binary, not a mock)."""
    home = tmp_path_factory.mktemp("proda-home")
    server = EmbeddedFalkorDB(home)
    info, _ = server.ensure_running()
    yield info
    server.stop()


def _falkordb_store(info: ServerInfo, prefix: str = "test") -> FalkorDBStore:
    store = FalkorDBStore("127.0.0.1", info.port, f"{prefix}_{uuid.uuid4().hex[:12]}", password=info.password)
    store.ensure_schema()
    return store


@pytest.fixture
def falkordb_store(falkordb_server: ServerInfo) -> Iterator[FalkorDBStore]:
    """A fresh, empty graph on the session's FalkorDB; deleted afterwards."""
    store = _falkordb_store(falkordb_server)
    yield store
    store.clear()
    store.close()


@pytest.fixture
def fresh_graph(falkordb_server: ServerInfo) -> Iterator[Callable[[], FalkorDBStore]]:
    """A factory of further empty graphs on the session's FalkorDB (reference loads, servers); deleted afterwards."""
    made: list[FalkorDBStore] = []

    def make() -> FalkorDBStore:
        made.append(_falkordb_store(falkordb_server, "ref"))
        return made[-1]

    yield make
    for store in made:
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


# The provider settings an LLM test must not inherit from the developer's shell: a real key or base
# URL there would send the test's requests somewhere other than its loopback wire server.
LLM_ENV = ("ANTHROPIC_API_KEY", "PRODA_ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
           "ANTHROPIC_PROFILE", "ANTHROPIC_CUSTOM_HEADERS", "PRODA_ANTHROPIC_MODEL", "OPENAI_API_KEY",
           "PRODA_OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "PRODA_OPENAI_BASE_URL",
           "PRODA_OPENAI_MODEL", "PRODA_OPENAI_GUIDED")


@pytest.fixture
def clean_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every LLM provider setting (:data:`LLM_ENV`) for one test; a module opts in with
    ``pytestmark = pytest.mark.usefixtures("clean_llm_env")``."""
    for name in LLM_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def wire() -> Iterator[WireServer]:
    """A loopback server speaking the providers' wire formats with recorded replies (tests/llm_wire.py)."""
    with WireServer() as server:
        yield server


@pytest.fixture(scope="module")
def running_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A PRODA_HOME whose embedded graph was started with `proda graph up` (stopped afterwards)."""
    home = tmp_path_factory.mktemp("cli-home")
    try:
        up = proda("graph", "up", home=home)
        assert up.returncode == 0, up.stderr
        yield home
    finally:
        terminate_servers(home)


@pytest.fixture
def cli_graph() -> str:
    """A graph name of the test's own on the shared server of :func:`running_home`."""
    return f"cli_{uuid.uuid4().hex[:10]}"


# --- catalog coverage ------------------------------------------------------------------------------

TESTS_DIR = Path(__file__).resolve().parent


def _is_conformance(item: pytest.Item) -> bool:
    return "store" in getattr(item, "fixturenames", ())


@dataclass
class CatalogCoverage:
    """What the session learnt about catalog queries executed by conformance tests."""

    backends_by_query: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    modules: set[Path] = field(default_factory=set)
    selected: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    deselected: int = 0
    verdict: str = ""
    failed: bool = False

    def partial_because(self) -> str | None:
        """Why this session cannot judge coverage (a subset of the conformance tests ran), or None."""
        unseen = sorted(p.name for p in TESTS_DIR.glob("test_*.py") if p not in self.modules)
        if unseen:
            return f"{len(unseen)} test module(s) not collected"
        if self.deselected:
            return f"{self.deselected} conformance test(s) deselected"
        if not self.selected:
            return "no conformance tests selected"
        unfinished = len(self.selected - self.finished)
        if unfinished:
            return f"{unfinished} conformance test(s) did not run (collect-only, or the session stopped early)"
        return None

    def missing(self) -> list[str]:
        """Catalog queries that no conformance test executed on any backend."""
        return sorted(set(default_catalog().names()) - set(self.backends_by_query))


_coverage = CatalogCoverage()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "conformance: uses the parametrised store fixture (every backend); set automatically"
    )


def pytest_collectstart(collector: pytest.Collector) -> None:
    if isinstance(collector, pytest.Module):
        _coverage.modules.add(collector.path.resolve())


@pytest.hookimpl(tryfirst=True)  # before -m selection, so `-m conformance` sees the marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_conformance(item):
            item.add_marker(pytest.mark.conformance)


def pytest_deselected(items: Sequence[pytest.Item]) -> None:
    _coverage.deselected += sum(1 for item in items if _is_conformance(item))


def pytest_collection_finish(session: pytest.Session) -> None:
    _coverage.selected = {item.nodeid for item in session.items if _is_conformance(item)}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """Attribute the catalog queries executed during a conformance test (setup to teardown) to it."""
    if not _is_conformance(item):
        return (yield)
    before = executed_queries()
    try:
        return (yield)
    finally:
        for name, backend in executed_queries() - before:
            _coverage.backends_by_query[name].add(backend)
        _coverage.finished.add(item.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Turn the session red when it ran every conformance test and some catalog query ran in none."""
    partial = _coverage.partial_because()
    if partial is not None:
        _coverage.verdict = f"not checked: {partial}"
        return
    missing = _coverage.missing()
    if not missing:
        _coverage.verdict = f"all {len(default_catalog().names())} catalog queries ran in a conformance test"
        return
    _coverage.failed = True
    _coverage.verdict = (
        f"{len(missing)} catalog quer{'y' if len(missing) == 1 else 'ies'} never executed in a conformance "
        f"test (one using the `store` fixture): {', '.join(missing)}"
    )
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _coverage.verdict:
        return
    if _coverage.failed:
        terminalreporter.section("catalog coverage", red=True, bold=True)
        terminalreporter.write_line(f"FAILED: {_coverage.verdict}", red=True)
    else:
        terminalreporter.write_line(f"catalog coverage {_coverage.verdict}")
