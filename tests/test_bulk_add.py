"""A discipline added in one bulk pass to a graph that holds another: the same graph as the upsert path makes,
safe against the server's reuse of deleted nodes' places and against other clients writing meanwhile."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from proda.pipelines.load import load_file, load_files
from proda.schema.store import falkordb_bulk
from proda.schema.store.base import GraphStore
from proda.schema.store.bulk import BulkGraph
from proda.schema.store.falkordb_store import FalkorDBStore
from tests.graphs import covers, graph_content

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "knowledge.jsonl"


def _by_discipline(tmp_path: Path) -> tuple[Path, Path]:
    """The sample's two disciplines as two files, each referring only to its own elements."""
    lines = [ln for ln in SAMPLE.read_text().splitlines() if ln.strip()]
    first = [ln for ln in lines if json.loads(ln)["discipline"] == "economics"]
    second = [ln for ln in lines if json.loads(ln)["discipline"] != "economics"]
    a, b = tmp_path / "economics.jsonl", tmp_path / "other.jsonl"
    a.write_text("\n".join(first) + "\n")
    b.write_text("\n".join(second) + "\n")
    return a, b


def _reference(fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path, *paths: Path) -> Any:
    reference = fresh_graph()
    load_files(reference, list(paths), home=tmp_path / "reference", bulk=False)
    return graph_content(reference)


def _other_client(store: FalkorDBStore) -> FalkorDBStore:
    spec = store.spec()
    return FalkorDBStore(spec.host, spec.port, spec.graph_name, password=spec.password)


def test_a_discipline_added_in_bulk_is_the_graph_the_upsert_path_makes(fresh_graph: Callable[[], FalkorDBStore],
                                                                      tmp_path: Path) -> None:
    covers("bulk_positions", "bulk_positions_held")
    a, b = _by_discipline(tmp_path)
    store = fresh_graph()
    first = load_file(store, a, home=tmp_path / "a")
    second = load_file(store, b, home=tmp_path / "b")
    assert (first.method, second.method) == ("bulk", "bulk")
    assert second.bulk_skipped is None and second.written == {"document": 1, "chunk": 1, "concept": 6,
                                                              "relation": 6, "chain": 2}
    nodes, edges = graph_content(store)
    assert (nodes, edges) == _reference(fresh_graph, tmp_path, a, b)
    # the same file again: its elements are in the graph, so the upsert path merges them (a no-op)
    again = load_file(store, b, home=tmp_path / "c")
    assert again.method == "upsert" and again.bulk_skipped is not None
    assert "already in the graph" in again.bulk_skipped
    assert graph_content(store) == (nodes, edges)


def test_added_nodes_take_the_places_of_deleted_ones_and_their_edges_follow(
        fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path) -> None:
    """The server fills the places deleted nodes left (last freed first) before new ones: positions counted
    from the node count would join the wrong nodes; read back, every edge is where the upsert path puts it."""
    a, b = _by_discipline(tmp_path)
    store = fresh_graph()
    load_file(store, a, home=tmp_path / "a")
    store.run("UNWIND range(1, 7) AS i CREATE (:Scratch {i: i})", read_only=False)
    store.run("MATCH (n:Scratch) WHERE n.i IN [2, 3, 6] DELETE n", read_only=False)
    freed = {r["p"] for r in store.run("MATCH (n:Scratch) RETURN id(n) AS p")}
    store.run("MATCH (n:Scratch) DELETE n", read_only=False)
    assert load_file(store, b, home=tmp_path / "b").method == "bulk"
    reused = {r["p"] for r in store.run("MATCH (n) WHERE n.discipline = 'computer_science' RETURN id(n) AS p")}
    assert freed <= reused  # the places were reused, out of creation order
    assert graph_content(store) == _reference(fresh_graph, tmp_path, a, b)


def test_a_reference_outside_the_added_file_goes_row_by_row(fresh_graph: Callable[[], FalkorDBStore],
                                                            tmp_path: Path) -> None:
    """A concept of the added file mentioned in a chunk of the graph: the upsert path links it to that chunk,
    which the pass cannot see, so the pass gives way after its nodes went, and the upsert path goes on from
    what it added."""
    a, b = _by_discipline(tmp_path)
    econ_chunk = next(json.loads(ln)["id"] for ln in a.read_text().splitlines() if '"kind":"chunk"' in ln
                      or json.loads(ln)["kind"] == "chunk")
    lines = b.read_text().splitlines()
    for i, ln in enumerate(lines):
        row = json.loads(ln)
        if row["kind"] == "concept":
            row["chunk_ids"] = [*row.get("chunk_ids", []), econ_chunk]
            lines[i] = json.dumps(row)
            break
    b.write_text("\n".join(lines) + "\n")
    store = fresh_graph()
    load_file(store, a, home=tmp_path / "a")
    report = load_file(store, b, home=tmp_path / "b")
    assert report.method == "upsert" and report.bulk_skipped is not None
    assert f"chunk {econ_chunk!r} is not in the input" in report.bulk_skipped
    assert graph_content(store) == _reference(fresh_graph, tmp_path, a, b)


def test_a_write_by_another_client_between_check_and_call_is_tried_again(
        fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another client writes after a call's check and before its transaction: the transaction fails on the
    watched key and the call is tried again, check included; the other client's write stays."""
    a, b = _by_discipline(tmp_path)
    store = fresh_graph()
    load_file(store, a, home=tmp_path / "a")
    other = _other_client(store)
    checks: list[str] = []
    original = falkordb_bulk._AddingCalls._absent

    def absent_then_write(self: Any, pipe: Any, ask: str) -> None:
        original(self, pipe, ask)
        checks.append(ask)
        if len(checks) == 1:
            other.run("CREATE (:Visitor {at: 1})", read_only=False)

    monkeypatch.setattr(falkordb_bulk._AddingCalls, "_absent", absent_then_write)
    try:
        assert load_file(store, b, home=tmp_path / "b").method == "bulk"
        assert len(checks) >= 2 and checks[0] == checks[1]  # the first call, checked again
        assert store.run("MATCH (v:Visitor) RETURN count(v) AS n") == [{"n": 1}]
        store.run("MATCH (v:Visitor) DELETE v", read_only=False)
        assert graph_content(store) == _reference(fresh_graph, tmp_path, a, b)
    finally:
        other.close()


def _between_nodes_and_edges(fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[FalkorDBStore, Path], None],
                             gives_way: str) -> None:
    """Load the second discipline into a graph holding the first while another client does ``meanwhile``
    after the pass placed its nodes and before its edges: the pass gives way (``gives_way`` in the
    reason) and the graph is the one the upsert path makes (less the other client's :Visitor nodes)."""
    a, b = _by_discipline(tmp_path)
    store = fresh_graph()
    load_file(store, a, home=tmp_path / "a")
    other = _other_client(store)
    original = BulkGraph.place_nodes

    def place_then(self: BulkGraph, positions: Any) -> None:
        original(self, positions)
        meanwhile(other, b)

    monkeypatch.setattr(BulkGraph, "place_nodes", place_then)
    try:
        report = load_file(store, b, home=tmp_path / "b")
        assert report.method == "upsert" and gives_way in (report.bulk_skipped or "")
        store.run("MATCH (v:Visitor) DELETE v", read_only=False)
        assert graph_content(store) == _reference(fresh_graph, tmp_path, a, b)
    finally:
        other.close()


def test_a_node_of_the_pass_deleted_before_its_edges_sends_the_load_row_by_row(
        fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another client deletes a node the pass added, and makes a node that may take its place, before the
    edges go: the ends no longer hold, so no edge is sent there, and the upsert path writes the rest."""

    def delete_one(other: FalkorDBStore, _: Path) -> None:
        other.run("MATCH (c:Concept) WHERE c.discipline = 'computer_science' WITH c LIMIT 1 DETACH DELETE c",
                  read_only=False)
        other.run("CREATE (:Visitor {at: 2})", read_only=False)

    _between_nodes_and_edges(fresh_graph, tmp_path, monkeypatch, delete_one, "deleted or replaced")


def test_the_same_file_upserted_by_another_client_meanwhile_makes_no_edge_twice(
        fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two loads of one new discipline at once: the other one's upserts find the nodes this pass added and
    make the edges before this pass sends them. Its edge calls see those edges and give way, so no edge is
    made twice, and the graph is the one either load makes alone."""
    covers("bulk_edges_present")

    def upsert_it(other: FalkorDBStore, b: Path) -> None:
        assert load_file(other, b, home=tmp_path / "other", bulk=False).method == "upsert"

    _between_nodes_and_edges(fresh_graph, tmp_path, monkeypatch, upsert_it, "made by another client")


def test_the_adding_pass_queries_read_positions_ends_and_edges(store: GraphStore, tmp_path: Path) -> None:
    """The three catalog queries of the adding pass, on every backend: positions of ids by label (none for
    an id the graph lacks), pairs that still hold, edges of a type that join two positions."""
    covers("bulk_positions", "bulk_positions_held", "bulk_edges_present")
    a, _ = _by_discipline(tmp_path)
    load_file(store, a, home=tmp_path / "a", bulk=False)
    where = {r["id"]: r["p"] for r in store.run("MATCH (n:Concept) RETURN n.id AS id, id(n) AS p")}
    docs = {r["id"]: r["p"] for r in store.run("MATCH (n:Document) RETURN n.id AS id, id(n) AS p")}
    rows = store.query("bulk_positions", {"concepts": [*where, "con_nowhere"], "documents": list(docs)})
    assert {r["id"]: r["position"] for r in rows} == {**where, **docs}
    assert store.query("bulk_positions", {"chains": ["chn_nowhere"]}) == []
    pairs = [[p, i] for i, p in where.items()]
    assert store.query("bulk_positions_held", {"pairs": pairs}) == [{"held": len(pairs)}]
    first, second = pairs[0][0], pairs[1][0]
    assert store.query("bulk_positions_held", {"pairs": [[first, pairs[1][1]], pairs[2]]}) == [{"held": 1}]
    [rel] = store.run("MATCH (s)-[r:RELATION]->(o) RETURN id(s) AS s, id(o) AS o LIMIT 1")
    assert store.query("bulk_edges_present", {"type": "RELATION", "ends": [[rel["s"], rel["o"]]]}) == [{"present": 1}]
    assert store.query("bulk_edges_present", {"type": "HAS_STEP", "ends": [[rel["s"], rel["o"]]]}) == [{"present": 0}]
    assert store.query("bulk_edges_present", {"type": "RELATION", "ends": [[first, first], [second, second]]}) \
        == [{"present": 0}]
