"""A FalkorDB graph that was never written: clearing it is quiet (other refusals are errors), it counts as
empty, a first load creates it, and a query on it says that it does not exist."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis

from proda.errors import QueryError
from proda.pipelines.load import load_file
from proda.schema.store import FalkorDBStore, ServerInfo

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "knowledge.jsonl"


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


def test_a_graph_never_written_is_empty_says_so_and_loads(falkordb_server: ServerInfo, tmp_path: Path) -> None:
    store = _store(falkordb_server, f"never_{uuid.uuid4().hex[:8]}")  # no ensure_schema: nothing on the server
    try:
        assert store.is_empty()
        with pytest.raises(QueryError, match=f"graph '{store.graph_name}' does not exist"):
            store.query("graph_is_empty", {})
        report = load_file(store, SAMPLE, home=tmp_path)
        assert report.ok and report.method == "bulk"
        assert not store.is_empty()
    finally:
        store.clear()
        store._graph.delete()
        store.close()
