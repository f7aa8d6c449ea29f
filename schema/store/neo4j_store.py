"""Neo4j adapter over the official ``neo4j`` driver (Bolt; ``neo4j://`` routing or ``bolt://`` direct).

Every query runs in a managed transaction (``execute_read`` / ``execute_write``), so the driver
retries transient failures (deadlocks included) for up to ``max_transaction_retry_time`` and, on a
cluster, routes reads to readers and writes to the leader. Catalog writes send their ``UNWIND`` rows in
lock-key order (:mod:`proda.schema.store.neo4j_writes` explains the strategy and its limits).
Connected components use Neo4j GDS when the plugin answers, otherwise the client-side union-find
over ``component_edges`` (:mod:`proda.schema.store.components`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import neo4j
from neo4j import exceptions as neo4j_errors
from neo4j.graph import Node, Path, Relationship

from proda.errors import ConfigError, GraphError, GraphUnavailable, QueryError, QueryTimeout
from proda.schema.catalog import Catalog
from proda.schema.ddl import INDEXES, IndexSpec
from proda.schema.store.base import ComponentStats, GraphStore, Row, StoreSpec, record_execution
from proda.schema.store.components import components_from_edges
from proda.schema.store.neo4j_writes import lock_ordered

log = logging.getLogger(__name__)

SCHEMES: tuple[str, ...] = ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DELETE_BATCH = "MATCH (n) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS deleted"
_GDS_PROBE = "RETURN gds.version() AS v"
_GDS_PROJECT = "CALL gds.graph.project($name, 'Concept', $relationships) YIELD graphName RETURN graphName"
_RELATIONSHIP_TYPES = "CALL db.relationshipTypes() YIELD relationshipType RETURN collect(relationshipType) AS types"
# The concept-to-concept edge types that component_edges.cypher follows (a unit test keeps the two in
# step), so GDS and the fallback count the same components.
COMPONENT_RELATIONSHIP_TYPES: tuple[str, ...] = ("RELATION", "SAME_AS")
_GDS_DROP = "CALL gds.graph.drop($name, false) YIELD graphName RETURN graphName"
GDS_METHOD = "neo4j gds.wcc"
FALLBACK_METHOD = "cypher fallback (client-side union-find)"


def _identifier(name: str) -> str:
    """``name`` if it is a plain Cypher identifier; raises :class:`ConfigError` otherwise."""
    if not _IDENTIFIER.match(name):
        raise ConfigError(f"{name!r} is not a valid label or property name for schema DDL")
    return name


def neo4j_ddl(indexes: Sequence[IndexSpec] = INDEXES) -> list[str]:
    """Neo4j 5 DDL for ``indexes``: one idempotent statement per spec, in order.

    A unique spec becomes a uniqueness constraint (which brings its own range index, so no
    separate index is created for it); any other spec a range index. Names are deterministic
    (``proda_<label>_<prop>``) so ``IF NOT EXISTS`` recognises a rerun. Raises
    :class:`ConfigError` if a label or property is not a plain identifier.
    """
    statements = []
    for spec in indexes:
        label, prop = _identifier(spec.label), _identifier(spec.prop)
        name = f"proda_{label.lower()}_{prop.lower()}"
        if spec.entity == "node":
            pattern, var = f"(n:{label})", "n"
        else:
            pattern, var = f"()-[r:{label}]-()", "r"
        if spec.unique:
            statements.append(
                f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR {pattern} REQUIRE {var}.{prop} IS UNIQUE"
            )
        else:
            statements.append(f"CREATE INDEX {name} IF NOT EXISTS FOR {pattern} ON ({var}.{prop})")
    return statements


def _plain(value: Any) -> Any:
    """Turn driver graph values (Node, Relationship, Path) into plain dicts/lists.

    Same shape as the FalkorDB adapter: properties plus ``_labels`` (nodes) or ``_type``
    (relationships); a path becomes ``{"nodes": [...], "relationships": [...]}``.
    """
    if isinstance(value, Node):
        out = dict(value.items())
        out["_labels"] = sorted(value.labels)
        return out
    if isinstance(value, Relationship):
        out = dict(value.items())
        out["_type"] = value.type
        return out
    if isinstance(value, Path):
        return {"nodes": [_plain(n) for n in value.nodes],
                "relationships": [_plain(r) for r in value.relationships]}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _split_url(url: str) -> tuple[str, str | None, str | None]:
    """``(url without credentials, user, password)``; raises :class:`ConfigError` on a bad URL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - evaluated for its ValueError on a malformed port
    except ValueError as e:
        raise ConfigError(f"Neo4j URL is malformed ({e}); use neo4j://host:7687 or bolt://host:7687") from e
    netloc = parts.netloc.rpartition("@")[2]
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ConfigError(
            f"Neo4j URL {clean!r} needs a host and one of the schemes {', '.join(SCHEMES)}, "
            "e.g. neo4j://host:7687 (routing) or bolt://host:7687 (one server)"
        )
    return clean, parts.username, parts.password


def _is_timeout(error: neo4j_errors.Neo4jError) -> bool:
    """Whether the server ended the transaction for exceeding its time limit.

    Neo4j 5 reports ``Neo.ClientError.Transaction.TransactionTimedOut`` (server limit) and
    ``...TransactionTimedOutClientConfiguration`` (the limit this adapter sent).
    """
    code = error.code or ""
    return ".Transaction." in code and "TimedOut" in code


def _gds_client(driver: Any, database: str | None) -> Any | None:
    """A ``graphdatascience`` client on ``driver``, or None when the optional package is absent.

    Also None for a driver that is not the official one (the client accepts only that); the
    Cypher projection then does the same work through :meth:`Neo4jStore.run`.
    """
    try:
        from graphdatascience import GraphDataScience
    except ImportError:
        return None
    if not isinstance(driver, neo4j.Driver):
        return None
    # arrow=False: the projection and the stream stay on Bolt, on the server this driver reaches.
    return GraphDataScience(driver, database=database, arrow=False, show_progress=False)


class Neo4jStore(GraphStore):
    """One database on a Neo4j 5 server or cluster."""

    backend = "neo4j"

    def __init__(
        self,
        url: str,
        user: str = "neo4j",
        password: str | None = None,
        *,
        database: str | None = None,
        default_timeout_ms: int | None = None,
        catalog: Catalog | None = None,
        driver: Any | None = None,
        max_transaction_retry_time: float | None = None,
    ) -> None:
        """Connect lazily to ``url`` (no network traffic until the first query or :meth:`ping`).

        Credentials written into the URL (``neo4j://user:pw@host``) are used only when no password
        is given, and never kept in :attr:`url`. ``driver`` injects a ready driver, which
        :meth:`close` then leaves open. ``max_transaction_retry_time`` (seconds) bounds how long the
        driver keeps retrying a transaction that failed with a retryable error (a deadlock, a lost
        leader); None keeps the driver's default (30 s), 0 practically turns retries off. It is a session
        setting, so it holds for an injected driver too. Raises :class:`ConfigError` on a bad URL or
        driver setting.
        """
        super().__init__(catalog)
        if max_transaction_retry_time is not None and max_transaction_retry_time < 0:
            raise ConfigError(f"max_transaction_retry_time must be >= 0 seconds, got {max_transaction_retry_time}")
        self.max_transaction_retry_time = max_transaction_retry_time
        clean, url_user, url_password = _split_url(url)
        if password is None and url_password is not None:
            user, password = url_user or user, url_password
        self.url = clean
        self.user = user
        self.database = database
        self.default_timeout_ms = default_timeout_ms
        self._gds: bool | None = None
        self._gds_client: Any | None = None
        self._gds_client_loaded = False
        self._spec = StoreSpec(backend="neo4j", url=clean, user=user, password=password,
                               database=database, timeout_ms=default_timeout_ms,
                               retry_seconds=max_transaction_retry_time)
        self._owns_driver = driver is None
        if driver is None:
            auth = (user, password) if password is not None else None
            try:
                driver = neo4j.GraphDatabase.driver(clean, auth=auth)
            except (neo4j_errors.ConfigurationError, ValueError) as e:
                raise ConfigError(f"cannot configure a Neo4j driver for {clean}: {e}") from e
        self._driver: Any = driver

    def spec(self) -> StoreSpec:
        """How another process reaches this server: the credential-free URL plus user and password.

        The password is kept in the spec (hidden from its repr), never in :attr:`url`.
        """
        return self._spec

    @contextlib.contextmanager
    def _translated(self, timeout_ms: int | None = None, name: str | None = None, *,
                    managed: bool = True) -> Iterator[None]:
        """Re-raise driver errors as ProDa errors that name :attr:`url` (and the catalog query ``name``).

        With ``managed`` the block is a managed transaction, so errors reach here only after the
        driver's loop gave up: a non-retryable error at once, a retryable one (deadlock, lost leader)
        once ``max_transaction_retry_time`` has passed.
        """
        what = f"query {name!r}" if name is not None else "the query"
        try:
            yield
        except neo4j_errors.AuthError as e:  # before Neo4jError: an AuthError is a ClientError
            raise GraphUnavailable(
                f"Neo4j at {self.url} refused the credentials of user {self.user!r}: check "
                f"PRODA_NEO4J_USER and PRODA_NEO4J_PASSWORD ({e.message})"
            ) from e
        except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired,
                neo4j_errors.ConnectionPoolError, neo4j_errors.DatabaseUnavailable, OSError) as e:
            during = f" (running {what})" if name is not None else ""
            raise GraphUnavailable(f"Neo4j at {self.url} is unreachable{during}: {e}") from e
        except neo4j_errors.Neo4jError as e:
            if _is_timeout(e):
                limit = f"{timeout_ms} ms" if timeout_ms is not None else "the server's transaction timeout"
                raise QueryTimeout(f"{what} exceeded {limit} on {self.url}") from e
            if managed and e.is_retryable():
                budget = self.max_transaction_retry_time
                waited = f"{budget:g} s" if budget is not None else "the driver's default retry time"
                raise QueryError(f"Neo4j at {self.url} kept failing {what} with a transient error after "
                                 f"retrying for {waited}: {e.code}: {e.message}") from e
            raise QueryError(f"Neo4j at {self.url} rejected {what}: {e.code}: {e.message}") from e
        except neo4j_errors.DriverError as e:
            # misuse of a result or session: a defect here, but still one error hierarchy for callers
            raise GraphError(f"Neo4j driver failed on {self.url}: {e}") from e

    def _session(self) -> Any:
        """A session on :attr:`database`; carries ``max_transaction_retry_time`` when one is set."""
        config: dict[str, Any] = {"database": self.database}
        if self.max_transaction_retry_time is not None:
            config["max_transaction_retry_time"] = self.max_transaction_retry_time
        return self._driver.session(**config)

    def run(
        self,
        cypher: str,
        params: Mapping[str, Any] | None = None,
        *,
        read_only: bool = True,
        timeout_ms: int | None = None,
    ) -> list[Row]:
        """Run ``cypher`` in one managed read (or write) transaction; returns its rows as dicts.

        Text run here is sent as given: only catalog writes (:meth:`query`) are lock-ordered.
        Raises :class:`GraphUnavailable` (server unreachable, credentials refused),
        :class:`QueryTimeout` or :class:`QueryError`.
        """
        return self._execute(cypher, params, read_only=read_only, timeout_ms=timeout_ms)

    def query(
        self, name: str, params: Mapping[str, Any] | None = None, *, timeout_ms: int | None = None
    ) -> list[Row]:
        """Run the catalog query ``name`` with validated parameters; returns its rows.

        A write query's unwound rows are first sorted by their lock key
        (:func:`~proda.schema.store.neo4j_writes.lock_ordered`), so concurrent writers lock shared
        nodes in one order; errors name the query.
        """
        q = self.catalog.get(name)
        bound = q.bind(params or {})
        text = q.text(self.backend)
        if not q.read_only:
            bound = lock_ordered(text, bound)
        rows = self._execute(text, bound, read_only=q.read_only, timeout_ms=timeout_ms, name=name)
        record_execution(name, self.backend)
        return rows

    def _execute(
        self,
        cypher: str,
        params: Mapping[str, Any] | None,
        *,
        read_only: bool,
        timeout_ms: int | None,
        name: str | None = None,
    ) -> list[Row]:
        timeout = timeout_ms if timeout_ms is not None else self.default_timeout_ms
        # A neo4j.Query object is refused inside transaction functions (tx.run raises TypeError),
        # so the limit travels the documented way for them: unit_of_work(timeout=seconds).
        seconds = timeout / 1000 if timeout is not None else None
        bound = dict(params or {})

        @neo4j.unit_of_work(timeout=seconds)
        def work(tx: neo4j.ManagedTransaction) -> list[Row]:
            # Consumed inside the function: the driver may run it again, and results die with the tx.
            # Driver errors must leave it unwrapped, or the driver's retry loop would not recognise
            # them; every attempt sends the same `bound`, so a retried batch keeps its rows and order.
            return [dict(zip(record.keys(), map(_plain, record.values()), strict=True))
                    for record in tx.run(cypher, bound)]

        with self._translated(timeout, name), self._session() as session:
            execute: Callable[..., list[Row]] = session.execute_read if read_only else session.execute_write
            return execute(work)

    def ensure_schema(self) -> None:
        """Create the constraints and indexes of :data:`~proda.schema.ddl.INDEXES`; idempotent.

        Raises :class:`QueryError` if a constraint cannot hold (duplicate ids already stored).
        """
        for statement in neo4j_ddl():
            self.run(statement, read_only=False)

    def component_strategy(self) -> str:
        """``"gds"`` when the GDS plugin answers on this database, else ``"fallback"``.

        Probed once and cached; an unreachable server raises :class:`GraphUnavailable` and is
        not cached.
        """
        if self._gds is None:
            try:
                self.run(_GDS_PROBE)
                self._gds = True
            except QueryError:  # unknown function gds.version: no plugin (or not allowed to call it)
                self._gds = False
        return "gds" if self._gds else "fallback"

    def components(self, discipline: str | None = None) -> list[ComponentStats]:
        """Weakly connected components of the concept graph per discipline (sorted by discipline).

        Raises :class:`GraphUnavailable`, :class:`QueryError` or :class:`QueryTimeout`.
        """
        if self.component_strategy() == "fallback":
            return self._components_client_side(discipline)
        relationships = self._projected_relationships()
        if not relationships:  # no concept edges at all: nothing for GDS to project, every concept stands alone
            return self._components_client_side(discipline)
        projection = f"proda_wcc_{uuid.uuid4().hex}"  # unique: concurrent callers never share one
        query = self.catalog.get("components")
        params = query.bind({"discipline": discipline, "projection": projection})
        client = self._gds_client_or_none()
        self._project(client, projection, relationships)
        failed = True
        try:
            # A projection lives in one server's memory: the stream and the drop go through write
            # transactions like the projection, so a cluster routes all three to the same leader.
            rows = self._execute(query.text(self.backend), params, read_only=False, timeout_ms=None,
                                 name=query.name)
            record_execution(query.name, self.backend)  # not query(): the projection needs a write tx
            failed = False
        finally:
            self._drop(client, projection, quiet=failed)
        return [ComponentStats(**r, method=GDS_METHOD) for r in rows]

    def _components_client_side(self, discipline: str | None) -> list[ComponentStats]:
        rows = self.query("component_edges", {"discipline": discipline})
        return components_from_edges(rows, method=FALLBACK_METHOD)

    def _projected_relationships(self) -> dict[str, dict[str, str]]:
        """GDS relationship projection of the component edge types present in this database.

        A native projection fails on a type the database has never seen (SAME_AS before the first
        merge), so absent types are left out rather than named.
        """
        rows = self.run(_RELATIONSHIP_TYPES)
        present = set(rows[0]["types"]) if rows else set()
        return {t: {"orientation": "UNDIRECTED"} for t in COMPONENT_RELATIONSHIP_TYPES if t in present}

    def _gds_client_or_none(self) -> Any | None:
        """The cached ``graphdatascience`` client, or None to project through Cypher."""
        if not self._gds_client_loaded:
            with self._translated(managed=False):
                self._gds_client = _gds_client(self._driver, self.database)
            self._gds_client_loaded = True
        return self._gds_client

    def _project(self, client: Any | None, name: str, relationships: Mapping[str, Any]) -> None:
        """Project the Concept nodes with ``relationships`` (undirected) as GDS graph ``name``."""
        if client is None:
            self.run(_GDS_PROJECT, {"name": name, "relationships": dict(relationships)}, read_only=False)
            return
        project = client.graph.project
        # graphdatascience 2.x moved the native projection to .native; 1.x calls project directly
        native = getattr(project, "native", project)
        with self._translated(managed=False):  # the client runs its own transactions, outside ours
            native(name, "Concept", dict(relationships))

    def _drop(self, client: Any | None, name: str, *, quiet: bool) -> None:
        """Drop GDS graph ``name``; with ``quiet`` a failure is logged, not raised.

        ``quiet`` is set while another error propagates: that error says more than a leaked
        projection, which GDS frees with the server anyway.
        """
        try:
            if client is None:
                self.run(_GDS_DROP, {"name": name}, read_only=False)
            else:
                with self._translated(managed=False):
                    client.graph.drop(name, False)  # positional: failIfMissing (1.x) / fail_if_missing (2.x)
        except GraphError:
            if not quiet:
                raise
            log.warning("could not drop GDS projection %s on %s", name, self.url, exc_info=True)

    def ping(self) -> None:
        """Return if the server answers; raises :class:`GraphUnavailable` naming :attr:`url`."""
        try:
            with self._translated(managed=False):
                self._driver.verify_connectivity()
        except GraphUnavailable:
            raise
        except GraphError as e:
            raise GraphUnavailable(f"Neo4j at {self.url} does not answer: {e}") from e

    def delete_all(self) -> int:
        """Delete every node and relationship in batches; returns how many nodes were deleted.

        Batches keep each transaction's memory bounded on a large graph. Raises
        :class:`GraphUnavailable`, :class:`QueryError` or :class:`QueryTimeout`.
        """
        total = 0
        while True:
            rows = self.run(_DELETE_BATCH, read_only=False)
            deleted = int(rows[0]["deleted"]) if rows else 0
            if deleted == 0:
                return total
            total += deleted

    def clear(self) -> None:
        """Delete every node and relationship (:meth:`delete_all`), then recreate the schema."""
        self.delete_all()
        self.ensure_schema()

    def close(self) -> None:
        """Close the driver if this store created it; an injected driver belongs to its creator."""
        if self._owns_driver:
            self._driver.close()
