"""Graph stores: one interface (:class:`GraphStore`), a FalkorDB and a Neo4j adapter.

:func:`open_store` is what entry points call: it picks the backend from the settings, starts the
embedded FalkorDB when no URL is configured (and stops it on exit if it started it), creates the
schema, and yields the store to inject into the stages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlparse

from proda.config import Settings
from proda.errors import ConfigError
from proda.schema.store.base import ComponentStats, GraphStore, Row
from proda.schema.store.embedded import EmbeddedFalkorDB, ServerInfo
from proda.schema.store.falkordb_store import FalkorDBStore

__all__ = [
    "ComponentStats",
    "EmbeddedFalkorDB",
    "FalkorDBStore",
    "GraphStore",
    "Row",
    "ServerInfo",
    "connect",
    "open_store",
]


def connect(settings: Settings, embedded: ServerInfo | None = None) -> GraphStore:
    """A store for ``settings.graph_url`` (or the given embedded server). Does not start anything."""
    timeout = settings.query_timeout_ms
    if settings.graph_url is None:
        if embedded is None:
            raise ConfigError("no PRODA_GRAPH_URL and no embedded server: run `proda graph up`")
        return FalkorDBStore("127.0.0.1", embedded.port, settings.graph_name, password=embedded.password,
                             default_timeout_ms=timeout, owns_server=True)
    url = urlparse(settings.graph_url)
    if settings.backend == "falkordb":
        if not url.hostname or not url.port:
            raise ConfigError(f"PRODA_GRAPH_URL={settings.graph_url!r} needs a host and a port")
        return FalkorDBStore(url.hostname, url.port, settings.graph_name, password=url.password,
                             default_timeout_ms=timeout)
    from proda.schema.store.neo4j_store import Neo4jStore

    password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else None
    return Neo4jStore(settings.graph_url, settings.neo4j_user, password, database=settings.neo4j_database,
                      default_timeout_ms=timeout, max_transaction_retry_time=settings.neo4j_retry_seconds)


@contextlib.contextmanager
def open_store(settings: Settings, *, keep_running: bool = False) -> Iterator[GraphStore]:
    """Yield a connected store with its schema in place; closes it (and a server it started) on exit.

    With no URL configured the embedded FalkorDB under ``settings.home`` is reused if it runs,
    otherwise started; ``keep_running`` leaves a server started here running after exit.
    """
    server: EmbeddedFalkorDB | None = None
    info: ServerInfo | None = None
    started = False
    if settings.graph_url is None:
        server = EmbeddedFalkorDB(settings.home)
        info, started = server.ensure_running()
    try:
        store = connect(settings, info)
        try:
            store.ping()
            store.ensure_schema()
            yield store
        finally:
            store.close()
    finally:
        if server is not None and started and not keep_running:
            server.stop()
