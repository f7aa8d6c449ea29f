"""Clearing a FalkorDB graph: only "there was nothing to delete" is quiet; other refusals are errors."""

from __future__ import annotations

import uuid

import pytest
import redis

from proda.errors import QueryError
from proda.schema.store import FalkorDBStore, ServerInfo


def _store(info: ServerInfo, name: str) -> FalkorDBStore:
    return FalkorDBStore("127.0.0.1", info.port, name, password=info.password)


def test_clearing_a_graph_that_was_never_written_is_quiet(falkordb_server: ServerInfo) -> None:
    store = _store(falkordb_server, f"never_{uuid.uuid4().hex[:8]}")
    try:
        store.clear()
        assert store.query("discipline_counts", {"discipline": None}) == []
    finally:
        store.clear()
        store.close()


def test_a_refused_delete_is_an_error_naming_the_graph(falkordb_server: ServerInfo) -> None:
    name = f"clash_{uuid.uuid4().hex[:8]}"
    plain = redis.Redis(host="127.0.0.1", port=falkordb_server.port, password=falkordb_server.password)
    plain.set(name, "a string key, not a graph")  # GRAPH.DELETE on it is refused with WRONGTYPE
    store = _store(falkordb_server, name)
    try:
        with pytest.raises(QueryError, match=name):
            store.clear()
    finally:
        plain.delete(name)
        plain.close()
        store.close()
