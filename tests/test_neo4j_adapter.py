"""Unit tests of the Neo4j adapter without a server: which text, parameters and transaction mode it
sends, how it maps driver errors, and the DDL it renders.

No Neo4j server can be installed here, so the driver is a hand-written fake that records what the
adapter asks of it and answers with canned records; the same adapter runs the conformance suite
(tests/test_catalog.py) whenever PRODA_NEO4J_URL points at a real server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import neo4j
import pytest
from neo4j import exceptions as ne
from neo4j.graph import Graph, Node
from neo4j.graph import Path as GraphPath

from proda.config import Settings
from proda.errors import ConfigError, GraphUnavailable, QueryError, QueryTimeout
from proda.schema.catalog import Catalog, Param, Query, default_catalog
from proda.schema.ddl import INDEXES, IndexSpec
from proda.schema.store import connect, neo4j_store
from proda.schema.store.neo4j_store import FALLBACK_METHOD, GDS_METHOD, Neo4jStore, neo4j_ddl
from tests.neo4j_errors import server_error

CYPHER_DIR = Path(neo4j_store.__file__).resolve().parent.parent / "cypher"
URL = "neo4j://db.example:7687"




UNKNOWN_GDS = "Neo.ClientError.Statement.SyntaxError"


@dataclass
class Call:
    """One tx.run the adapter made."""

    mode: str
    text: str
    params: dict[str, Any]
    timeout: float | None
    database: str | None


Answer = list[dict[str, Any]] | BaseException


@dataclass
class FakeDriver:
    """Records every query with its transaction mode; answers through ``respond``."""

    respond: Callable[[str, dict[str, Any]], Answer] = lambda text, params: []
    calls: list[Call] = field(default_factory=list)
    connectivity_error: BaseException | None = None
    closed: bool = False

    def session(self, database: str | None = None, **config: Any) -> FakeSession:
        return FakeSession(self, database)

    def verify_connectivity(self) -> None:
        if self.connectivity_error is not None:
            raise self.connectivity_error

    def close(self) -> None:
        self.closed = True

    def texts(self) -> list[str]:
        return [c.text for c in self.calls]


@dataclass
class FakeSession:
    """Only managed transactions: there is no ``run``, so auto-commit use fails loudly."""

    driver: FakeDriver
    database: str | None

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute_read(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return work(FakeTx(self, "read", getattr(work, "timeout", None)), *args, **kwargs)

    def execute_write(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return work(FakeTx(self, "write", getattr(work, "timeout", None)), *args, **kwargs)


@dataclass
class FakeTx:
    session: FakeSession
    mode: str
    timeout: float | None

    def run(self, query: Any, parameters: dict[str, Any] | None = None, **kw: Any) -> list[neo4j.Record]:
        if isinstance(query, neo4j.Query):  # what the real ManagedTransaction.run does
            raise TypeError("Query object is only supported for session.run")
        params = dict(parameters or {})
        driver = self.session.driver
        driver.calls.append(Call(self.mode, query, params, self.timeout, self.session.database))
        answer = driver.respond(query, params)
        if isinstance(answer, BaseException):
            raise answer
        return [neo4j.Record(row) for row in answer]


def text_of(name: str, backend: str = "neo4j") -> str:
    return default_catalog().get(name).text(backend)


class Server:
    """Canned answers: GDS present or not, component edges, component rows, delete batches."""

    def __init__(self, *, gds: bool, fail_on: dict[str, BaseException] | None = None,
                 types: tuple[str, ...] = ("RELATION", "SAME_AS", "HAS_CHUNK")) -> None:
        self.gds = gds
        self.types = list(types)
        self.fail_on = fail_on or {}
        self.deletes = [10_000, 10_000, 5, 0]

    def __call__(self, text: str, params: dict[str, Any]) -> Answer:
        for needle, error in self.fail_on.items():
            if needle in text:
                return error
        if text == neo4j_store._GDS_PROBE:
            if self.gds:
                return [{"v": "2.6.0"}]
            return server_error(UNKNOWN_GDS, "Unknown function 'gds.version'")
        if text == neo4j_store._RELATIONSHIP_TYPES:
            return [{"types": self.types}]
        if text == text_of("component_edges"):
            return [
                {"id": "a", "discipline": "physics", "neighbour": "b"},
                {"id": "b", "discipline": "physics", "neighbour": "c"},
                {"id": "c", "discipline": "physics", "neighbour": None},
                {"id": "d", "discipline": "physics", "neighbour": None},
            ]
        if text == text_of("components"):
            return [{"discipline": "physics", "components": 2, "giant": 3, "concepts": 4, "giant_share": 0.75}]
        if text == neo4j_store._DELETE_BATCH:
            return [{"deleted": self.deletes.pop(0)}]
        return []


def make_store(respond: Callable[[str, dict[str, Any]], Answer] | None = None,
               **kwargs: Any) -> tuple[Neo4jStore, FakeDriver]:
    driver = FakeDriver(respond or Server(gds=False))
    return Neo4jStore(URL, "neo4j", "pw", driver=driver, **kwargs), driver


def minimal_params(q: Query) -> dict[str, Any]:
    samples = {"string": "x", "int": 1, "float": 1.0, "bool": True, "list": [], "map": {}, "any": "x"}
    return {p.name: samples[p.type] for p in q.params if p.required}


# --- transaction mode and query text -------------------------------------------------------------


def test_every_catalog_query_runs_in_the_transaction_mode_its_header_declares() -> None:
    store, driver = make_store()
    modes = {}
    for q in default_catalog():
        store.query(q.name, minimal_params(q))
        call = driver.calls[-1]
        assert call.text == q.text("neo4j"), q.name
        modes[q.name] = call.mode
        assert call.mode == q.mode, f"{q.name} is declared {q.mode} but ran in a {call.mode} transaction"
    # spelled out so that a header typo cannot silently flip a write into a read transaction
    assert modes["upsert_concepts"] == modes["upsert_relations"] == modes["link_chain_steps"] == "write"
    assert modes["concept"] == modes["component_edges"] == modes["orphans"] == "read"


def test_run_sends_timeout_in_seconds_and_the_database() -> None:
    store, driver = make_store(database="kg", default_timeout_ms=2500)
    store.run("RETURN 1 AS x")
    store.run("RETURN 1 AS x", timeout_ms=100, read_only=False)
    assert [(c.mode, c.timeout, c.database) for c in driver.calls] == [("read", 2.5, "kg"), ("write", 0.1, "kg")]
    unlimited, driver2 = make_store()
    unlimited.run("RETURN 1 AS x")
    assert driver2.calls[0].timeout is None


def test_rows_come_back_as_dicts_and_graph_values_as_plain_dicts() -> None:
    g = Graph()
    a = Node(g, "4:x:1", 1, ["Concept"], {"id": "a", "name": "price"})
    b = Node(g, "4:x:2", 2, ["Concept", "Extra"], {"id": "b"})
    r = g.relationship_type("RELATION")(g, "5:x:1", 1, {"id": "r1", "type": "causes"})
    r._start_node, r._end_node = a, b  # what the driver's hydration sets
    path = GraphPath(a, r)
    row = {"n": a, "r": r, "p": path, "many": [b, {"inner": a}], "k": 3}
    store, _ = make_store(lambda text, params: [row])
    [out] = store.run("MATCH ... RETURN n, r, p, many, k")
    assert out["n"] == {"id": "a", "name": "price", "_labels": ["Concept"]}
    assert out["r"] == {"id": "r1", "type": "causes", "_type": "RELATION"}
    assert out["p"] == {"nodes": [out["n"], {"id": "b", "_labels": ["Concept", "Extra"]}],
                        "relationships": [out["r"]]}
    assert out["many"] == [{"id": "b", "_labels": ["Concept", "Extra"]}, {"inner": out["n"]}]
    assert out["k"] == 3


def test_a_backend_variant_wins_over_the_common_text() -> None:
    q = Query("probe", "test", (Param("id", "string"),), ("x",), "read",
              {"common": "RETURN $id AS x // common", "neo4j": "RETURN $id AS x // neo4j"})
    store, driver = make_store(catalog=Catalog({"probe": q}))
    store.query("probe", {"id": "z"})
    assert driver.calls[0].text.endswith("// neo4j")
    assert driver.calls[0].params == {"id": "z"}
    assert q.text("falkordb").endswith("// common")


def test_shipped_variant_files_are_what_each_backend_gets() -> None:
    components = default_catalog().get("components")
    neo4j_file = (CYPHER_DIR / "components.neo4j.cypher").read_text(encoding="utf-8")
    falkordb_file = (CYPHER_DIR / "components.falkordb.cypher").read_text(encoding="utf-8")
    assert components.text("neo4j") == neo4j_file
    assert components.text("falkordb") == falkordb_file
    assert "gds.wcc.stream($projection)" in neo4j_file and "algo.WCC" in falkordb_file
    # a query without a variant file: both backends get the common file
    common = (CYPHER_DIR / "chain_detail.cypher").read_text(encoding="utf-8")
    store, driver = make_store()
    store.query("chain_detail", {"id": "x"})
    assert driver.calls[0].text == common == default_catalog().get("chain_detail").text("falkordb")
    # and a query with both: the Neo4j adapter sends the neo4j file
    store.query("concept", {"id": "x"})
    assert driver.calls[1].text == (CYPHER_DIR / "concept.neo4j.cypher").read_text(encoding="utf-8")


# --- connected components ------------------------------------------------------------------------


def test_components_without_gds_send_component_edges_and_count_client_side() -> None:
    store, driver = make_store(Server(gds=False))
    assert store.component_strategy() == "fallback"
    [stats] = store.components("physics")
    assert driver.calls[0].text == neo4j_store._GDS_PROBE
    edges = driver.calls[1]
    assert edges.text == text_of("component_edges") and edges.params == {"discipline": "physics"}
    assert edges.mode == "read"
    assert (stats.components, stats.giant, stats.concepts, stats.method) == (2, 3, 4, FALLBACK_METHOD)
    store.components()
    assert driver.texts().count(neo4j_store._GDS_PROBE) == 1, "the GDS probe must be cached"
    assert all("gds.graph" not in t for t in driver.texts())


def test_components_with_gds_project_stream_and_drop_one_projection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(neo4j_store, "_gds_client", lambda driver, database: None)
    store, driver = make_store(Server(gds=True))
    assert store.component_strategy() == "gds"
    [stats] = store.components("physics")
    probe, types, project, stream, drop = driver.calls
    assert probe.text == neo4j_store._GDS_PROBE and types.text == neo4j_store._RELATIONSHIP_TYPES
    name = project.params["name"]
    assert "gds.graph.project($name, 'Concept', $relationships)" in project.text
    assert project.params["relationships"] == {"RELATION": {"orientation": "UNDIRECTED"},
                                               "SAME_AS": {"orientation": "UNDIRECTED"}}
    assert stream.text == default_catalog().get("components").text("neo4j") != text_of("components", "falkordb")
    assert stream.params == {"discipline": "physics", "projection": name}
    assert "gds.graph.drop($name" in drop.text and drop.params == {"name": name}
    # one mode for all three: a projection lives on one cluster member
    assert {project.mode, stream.mode, drop.mode} == {"write"}
    assert (stats.components, stats.giant, stats.concepts, stats.method) == (2, 3, 4, GDS_METHOD)
    store.components("physics")
    assert driver.calls[6].params["name"] != name, "each call projects under a fresh name"


def test_gds_projects_only_the_component_edge_types_the_database_has(monkeypatch: pytest.MonkeyPatch) -> None:
    # a native projection naming a type the database never saw fails, e.g. SAME_AS before any merge
    monkeypatch.setattr(neo4j_store, "_gds_client", lambda driver, database: None)
    store, driver = make_store(Server(gds=True, types=("RELATION", "HAS_CHUNK")))
    store.components()
    [project] = [c for c in driver.calls if "gds.graph.project" in c.text]
    assert project.params["relationships"] == {"RELATION": {"orientation": "UNDIRECTED"}}


def test_gds_is_skipped_when_no_concept_edge_type_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(neo4j_store, "_gds_client", lambda driver, database: None)
    store, driver = make_store(Server(gds=True, types=("HAS_CHUNK",)))
    [stats] = store.components()
    assert stats.method == FALLBACK_METHOD
    assert all("gds.graph" not in t for t in driver.texts())
    assert text_of("component_edges") in driver.texts()


def test_gds_projects_the_edge_types_that_component_edges_follows() -> None:
    # GDS and the client-side fallback must count the same components: same relationship types
    pattern = re.search(r"\(c\)-\[:([A-Z_|]+)\]->\(n:Concept\)", text_of("component_edges"))
    assert pattern is not None, "component_edges changed shape: update this test and the GDS projection"
    assert set(pattern.group(1).split("|")) == set(neo4j_store.COMPONENT_RELATIONSHIP_TYPES)


def test_gds_projection_is_dropped_when_the_stream_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(neo4j_store, "_gds_client", lambda driver, database: None)
    boom = server_error("Neo.ClientError.Procedure.ProcedureCallFailed", "out of memory")
    store, driver = make_store(Server(gds=True, fail_on={"gds.wcc.stream": boom}))
    with pytest.raises(QueryError, match="out of memory") as info:
        store.components()
    assert info.value.__cause__ is boom
    assert "gds.graph.drop" in driver.calls[-1].text
    [project] = [c for c in driver.calls if "gds.graph.project" in c.text]
    assert driver.calls[-1].params["name"] == project.params["name"]


class FakeProject:
    """graphdatascience 2.x shape: gds.graph.project.native(...)."""

    def __init__(self, log: list[tuple[str, tuple[Any, ...]]]) -> None:
        self.log = log

    def native(self, *args: Any) -> None:
        self.log.append(("project", args))


class FakeGraphEndpoints:
    def __init__(self, log: list[tuple[str, tuple[Any, ...]]], *, v1: bool) -> None:
        self.log = log
        if v1:  # graphdatascience 1.x shape: gds.graph.project(...) is callable
            self.project: Any = lambda *args: log.append(("project", args))
        else:
            self.project = FakeProject(log)

    def drop(self, *args: Any) -> None:
        self.log.append(("drop", args))


@pytest.mark.parametrize("v1", [False, True], ids=["graphdatascience-2", "graphdatascience-1"])
def test_components_use_the_graphdatascience_client_when_installed(
    monkeypatch: pytest.MonkeyPatch, v1: bool
) -> None:
    log: list[tuple[str, tuple[Any, ...]]] = []
    client = type("FakeGDS", (), {})()
    client.graph = FakeGraphEndpoints(log, v1=v1)
    monkeypatch.setattr(neo4j_store, "_gds_client", lambda driver, database: client)
    store, driver = make_store(Server(gds=True))
    store.components()
    assert [step for step, _ in log] == ["project", "drop"]
    (name, label, rels), (dropped, fail_if_missing) = log[0][1], log[1][1]
    assert (label, rels) == ("Concept", {"RELATION": {"orientation": "UNDIRECTED"},
                                         "SAME_AS": {"orientation": "UNDIRECTED"}})
    assert dropped == name and fail_if_missing is False
    assert driver.calls[-1].params["projection"] == name
    assert all("gds.graph." not in t for t in driver.texts()), "projection went through the client"


def test_an_unreachable_server_during_the_gds_probe_is_not_cached_as_no_gds() -> None:
    server = Server(gds=True, fail_on={"gds.version": ne.ServiceUnavailable("no route")})
    store, _ = make_store(server)
    with pytest.raises(GraphUnavailable):
        store.component_strategy()
    server.fail_on = {}
    assert store.component_strategy() == "gds"


# --- schema and clear ----------------------------------------------------------------------------


def test_neo4j_ddl_is_one_idempotent_statement_per_index_spec() -> None:
    ddl = neo4j_ddl()
    assert len(ddl) == len(INDEXES)
    assert all(" IF NOT EXISTS " in s for s in ddl)
    names = [s.split()[2] for s in ddl]
    assert len(set(names)) == len(names), "names must be unique or IF NOT EXISTS would skip an index"
    assert "CREATE CONSTRAINT proda_concept_id IF NOT EXISTS FOR (n:Concept) REQUIRE n.id IS UNIQUE" in ddl
    assert "CREATE INDEX proda_chunk_document_id IF NOT EXISTS FOR (n:Chunk) ON (n.document_id)" in ddl
    assert "CREATE INDEX proda_relation_id IF NOT EXISTS FOR ()-[r:RELATION]-() ON (r.id)" in ddl
    for spec, statement in zip(INDEXES, ddl, strict=True):
        assert statement.startswith("CREATE CONSTRAINT" if spec.unique else "CREATE INDEX"), statement


def test_neo4j_ddl_refuses_identifiers_that_are_not_plain_names() -> None:
    with pytest.raises(ConfigError, match="not a valid label"):
        neo4j_ddl([IndexSpec("node", "Concept) DETACH DELETE (n", "id")])
    with pytest.raises(ConfigError):
        neo4j_ddl([IndexSpec("node", "Concept", "id`")])


def test_ensure_schema_sends_the_ddl_in_write_transactions() -> None:
    store, driver = make_store()
    store.ensure_schema()
    assert driver.texts() == neo4j_ddl()
    assert {c.mode for c in driver.calls} == {"write"}


def test_clear_deletes_in_batches_until_none_are_left_then_recreates_the_schema() -> None:
    store, driver = make_store(Server(gds=False))
    assert store.delete_all() == 20_005
    assert driver.texts() == [neo4j_store._DELETE_BATCH] * 4
    driver.calls.clear()
    server = Server(gds=False)
    server.deletes = [0]
    store2, driver2 = make_store(server)
    store2.clear()
    assert driver2.texts() == [neo4j_store._DELETE_BATCH, *neo4j_ddl()]
    assert {c.mode for c in driver2.calls} == {"write"}


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected", "words"),
    [
        (ne.ServiceUnavailable("Couldn't connect to db.example:7687"), GraphUnavailable, ["unreachable"]),
        (ne.SessionExpired("leader switched"), GraphUnavailable, ["unreachable"]),
        (ConnectionResetError("reset by peer"), GraphUnavailable, ["unreachable"]),
        (server_error("Neo.ClientError.Security.Unauthorized", "authentication failure"), GraphUnavailable,
         ["PRODA_NEO4J_USER", "PRODA_NEO4J_PASSWORD"]),
        (server_error("Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration", "timed out"),
         QueryTimeout, ["1500 ms"]),
        (server_error("Neo.ClientError.Transaction.TransactionTimedOut", "timed out"), QueryTimeout, ["1500 ms"]),
        (server_error("Neo.ClientError.Statement.SyntaxError", "Invalid input 'RETRN'"), QueryError,
         ["Neo.ClientError.Statement.SyntaxError", "RETRN"]),
        (server_error("Neo.ClientError.Schema.ConstraintValidationFailed", "already exists"), QueryError,
         ["ConstraintValidationFailed"]),
    ],
    ids=["service-unavailable", "session-expired", "os-error", "auth", "timeout-client", "timeout-server",
         "syntax", "constraint"],
)
def test_driver_errors_become_proda_errors_that_name_the_url(
    error: BaseException, expected: type[Exception], words: list[str]
) -> None:
    store, _ = make_store(lambda text, params: error)
    with pytest.raises(expected) as info:
        store.run("RETURN 1", timeout_ms=1500)
    assert type(info.value) is expected  # a timeout must not come back as a plain QueryError
    assert info.value.__cause__ is error
    message = str(info.value)
    assert URL in message
    for word in words:
        assert word in message


def test_error_classes_used_above_are_the_drivers_own() -> None:
    # the mapping test is only meaningful if the hydrated errors have the driver's real classes
    assert type(server_error("Neo.ClientError.Security.Unauthorized", "x")) is ne.AuthError
    assert type(server_error("Neo.ClientError.Statement.SyntaxError", "x")) is ne.CypherSyntaxError
    assert type(server_error("Neo.ClientError.Transaction.TransactionTimedOut", "x")) is ne.ClientError


@pytest.mark.parametrize(
    ("error", "hint"),
    [(ne.ServiceUnavailable("Unable to retrieve routing information"), "unreachable"),
     (server_error("Neo.ClientError.Security.Unauthorized", "bad password"), "PRODA_NEO4J_PASSWORD")],
)
def test_ping_maps_connectivity_failures_to_graph_unavailable(error: BaseException, hint: str) -> None:
    store, driver = make_store()
    store.ping()
    driver.connectivity_error = error
    with pytest.raises(GraphUnavailable, match=hint) as info:
        store.ping()
    assert URL in str(info.value)


# --- URL, construction, close --------------------------------------------------------------------


def test_the_password_in_a_url_never_shows() -> None:
    boom = ne.ServiceUnavailable("Couldn't connect")
    driver = FakeDriver(lambda text, params: boom)
    store = Neo4jStore("neo4j://alice:s3cret@db.example:7687?policy=eu", driver=driver)
    assert store.url == "neo4j://db.example:7687?policy=eu"
    assert "s3cret" not in store.url and "alice" not in store.url
    with pytest.raises(GraphUnavailable) as info:
        store.run("RETURN 1")
    assert "s3cret" not in str(info.value)


def test_the_adapter_creates_its_driver_from_the_clean_url_and_closes_only_its_own(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[tuple[str, Any]] = []

    def fake_driver(uri: str, *, auth: Any = None, **config: Any) -> FakeDriver:
        made.append((uri, auth))
        return FakeDriver()

    monkeypatch.setattr(neo4j.GraphDatabase, "driver", fake_driver)
    from_url = Neo4jStore("bolt://alice:s3cret@db.example:7687")
    explicit = Neo4jStore("bolt://alice:s3cret@db.example:7687", "bob", "given")
    no_auth = Neo4jStore("bolt://db.example:7687")
    assert made == [("bolt://db.example:7687", ("alice", "s3cret")),
                    ("bolt://db.example:7687", ("bob", "given")),
                    ("bolt://db.example:7687", None)]
    from_url.close()
    assert from_url._driver.closed
    injected = FakeDriver()
    Neo4jStore(URL, driver=injected).close()
    assert not injected.closed, "an injected driver belongs to whoever created it"
    explicit.close()
    no_auth.close()


@pytest.mark.parametrize("url", ["neo4j://localhost:7687", "neo4j+s://x.databases.example", "bolt://127.0.0.1:7687",
                                 "bolt+ssc://[::1]:7687"])
def test_real_driver_is_created_lazily_for_every_supported_scheme(url: str) -> None:
    store = Neo4jStore(url, "neo4j", "pw")  # the official driver connects on first use only
    assert isinstance(store._driver, neo4j.Driver)
    assert store.url == url
    store.close()


@pytest.mark.parametrize("url", ["http://u:topsecret@localhost:7474", "falkordb://localhost:6379", "neo4j://",
                                 "localhost:7687", "bolt://localhost:notaport"])
def test_a_bad_url_is_refused_with_the_schemes_to_use(url: str) -> None:
    with pytest.raises(ConfigError, match=r"neo4j://host:7687") as info:
        Neo4jStore(url, "neo4j", "pw")
    assert "topsecret" not in str(info.value)


def test_connect_builds_a_neo4j_store_from_settings() -> None:
    settings = Settings(graph_url="neo4j://db.example:7687", neo4j_user="kg", neo4j_password="pw",
                        query_timeout_ms=1234)
    store = connect(settings)
    try:
        assert isinstance(store, Neo4jStore)
        assert (store.url, store.user, store.default_timeout_ms) == ("neo4j://db.example:7687", "kg", 1234)
    finally:
        store.close()


def test_spec_reopens_the_same_server_without_the_password_in_url_or_repr() -> None:
    store = Neo4jStore("neo4j://alice:s3cret@db.example:7687", default_timeout_ms=900, driver=FakeDriver())
    spec = store.spec()
    assert (spec.backend, spec.url, spec.user, spec.password, spec.timeout_ms) == (
        "neo4j", "neo4j://db.example:7687", "alice", "s3cret", 900)
    assert "s3cret" not in repr(spec)
    reopened = spec.open()  # a real, lazily connecting driver
    try:
        assert isinstance(reopened, Neo4jStore)
        assert (reopened.url, reopened.user, reopened.default_timeout_ms) == (store.url, "alice", 900)
        assert reopened.spec() == spec
    finally:
        reopened.close()


def test_retry_budget_travels_from_settings_and_through_the_spec() -> None:
    from proda.config import Settings
    from proda.schema.store import connect

    store = connect(Settings(graph_url="neo4j://db.example:7687", neo4j_retry_seconds=2.5))
    try:
        assert isinstance(store, Neo4jStore)
        assert store.max_transaction_retry_time == 2.5
        reopened = store.spec().open()  # what a Ray worker or a job process does
        try:
            assert isinstance(reopened, Neo4jStore)
            assert reopened.max_transaction_retry_time == 2.5
        finally:
            reopened.close()
    finally:
        store.close()
