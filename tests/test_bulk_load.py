"""First loads at bulk speed: a graph created by GRAPH.BULK must equal the one the UNWIND upserts build."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from proda.errors import PreconditionFailed
from proda.pipelines.load import load_file
from proda.schema.store.base import GraphStore
from proda.schema.store.bulk import BulkGraph, write_neo4j_admin
from proda.schema.store.falkordb_store import FalkorDBStore

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "knowledge.jsonl"


def _snapshot(store: GraphStore) -> tuple[list[Any], list[Any]]:
    """Every node (labels, properties) and edge (type, end ids, properties) of the graph, sorted."""
    nodes = store.run("MATCH (n) RETURN labels(n) AS labels, properties(n) AS props")
    edges = store.run("MATCH (a)-[r]->(b) RETURN type(r) AS type, a.id AS src, b.id AS dst, properties(r) AS props")
    key = lambda x: json.dumps(x, sort_keys=True, default=str)  # noqa: E731
    return (sorted(({"labels": sorted(n["labels"]), **dict(n["props"])} for n in nodes), key=key),
            sorted(({**e, "props": dict(e["props"])} for e in edges), key=key))


def _line(kind: str, **fields: Any) -> str:
    return json.dumps({"kind": kind, **fields})


def _awkward_file(path: Path) -> Path:
    """Forward references, aliases, empty strings, a split, a missing chunk, repeated chunk ids."""
    prov = {"extractor": "manual", "model": None, "prompt_version": "v1"}
    lines = [
        _line("relation", id="rel_ab", type="causes", subject_id="con_a", object_id="con_b", discipline="economics",
              evidence="a, \"quoted\"\nand a newline", confidence=0.25, provenance=prov),
        _line("relation", id="rel_bc", type="causes", subject_id="con_b", object_id="con_c", discipline="economics"),
        _line("document", id="doc_1", source_id="s/1", discipline="economics", title=""),
        _line("chunk", id="chk_1", document_id="doc_1", ordinal=0, discipline="economics", text="Text; with ; semis"),
        _line("concept", id="con_a", name="A", discipline="economics", aliases=["a1", "123"],
              chunk_ids=["chk_1", "chk_1", "chk_missing"], provenance=prov),
        _line("concept", id="con_b", name="B", discipline="economics"),
        _line("concept", id="con_c", name="C", discipline="economics", description="  padded  "),
        _line("chain", id="chn_1", discipline="economics", relation_ids=["rel_ab", "rel_bc"],
              concept_ids=["con_a", "con_b", "con_c"], relation_types=["causes", "causes"], chunk_id="chk_1",
              split="dev", provenance=prov),
        _line("chain", id="chn_2", discipline="economics", relation_ids=["rel_ab"],
              concept_ids=["con_a", "con_b"], chunk_id="chk_nowhere"),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("source", ["sample", "awkward"])
def test_bulk_load_equals_upsert_load(source: str, fresh_graph: Callable[[], FalkorDBStore],
                                      tmp_path: Path) -> None:
    path = SAMPLE if source == "sample" else _awkward_file(tmp_path / "awkward.jsonl")
    bulk_store, upsert_store = fresh_graph(), fresh_graph()
    bulk = load_file(bulk_store, path, home=tmp_path / "a", bulk=True)
    upsert = load_file(upsert_store, path, home=tmp_path / "b", bulk=False)
    assert (bulk.method, upsert.method) == ("bulk", "upsert")
    assert bulk.written == upsert.written
    assert bulk.unlinked_mentions == upsert.unlinked_mentions
    nodes, edges = _snapshot(bulk_store)
    assert nodes and edges
    assert (nodes, edges) == _snapshot(upsert_store)
    # indexes exist after a bulk load: the unique constraint rejects a second concept with the same id
    second = load_file(bulk_store, path, home=tmp_path / "a")
    assert second.method == "upsert" and second.bulk_skipped == "the graph is not empty"
    assert _snapshot(bulk_store) == (nodes, edges)


def test_auto_bulk_falls_back_for_repeated_ids(fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path) -> None:
    text = SAMPLE.read_text()
    path = tmp_path / "twice.jsonl"
    path.write_text(text + text.splitlines()[2] + "\n")  # one concept twice: the upsert path merges it
    store = fresh_graph()
    report = load_file(store, path, home=tmp_path)
    assert report.method == "upsert"
    assert report.bulk_skipped is not None and "more than once" in report.bulk_skipped
    reference = fresh_graph()
    load_file(reference, SAMPLE, home=tmp_path / "ref")
    assert _snapshot(store) == _snapshot(reference)


def test_forced_bulk_into_a_filled_graph_is_refused(fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path) -> None:
    store = fresh_graph()
    assert load_file(store, SAMPLE, home=tmp_path).method == "bulk"
    with pytest.raises(PreconditionFailed, match="not empty"):
        load_file(store, SAMPLE, home=tmp_path, bulk=True)


def test_graph_is_empty(store: GraphStore, tmp_path: Path) -> None:
    assert store.query("graph_is_empty", {}) == [{"empty": True}]
    load_file(store, SAMPLE, home=tmp_path, bulk=store.supports_bulk)
    assert store.query("graph_is_empty", {}) == [{"empty": False}]


def test_neo4j_admin_export_headers_and_cells(tmp_path: Path) -> None:
    from proda.pipelines.load import parse_line
    from proda.schema.vocabulary import default_vocabulary

    graph = BulkGraph()
    vocab = default_vocabulary()
    for raw in _awkward_file(tmp_path / "k.jsonl").read_text().splitlines():
        graph.add(parse_line(raw, vocab))
    assert graph.finish() is None
    args = write_neo4j_admin(graph, tmp_path / "out")
    assert "--nodes=Concept=nodes_Concept.csv" in args and "--relationships=HAS_STEP=rels_HAS_STEP.csv" in args
    concept = (tmp_path / "out" / "nodes_Concept.csv").read_text().splitlines()
    header = concept[0].split(",")
    assert header[0] == "id:ID" and "aliases:string[]" in header
    row_a = next(r for r in concept[1:] if r.startswith('"con_a"'))
    assert '"a1;123"' in row_a
    steps = (tmp_path / "out" / "rels_HAS_STEP.csv").read_text().splitlines()
    assert steps[0] == ":START_ID,:END_ID,pos:long,relation_id:string"
    assert '"chn_1","con_c","2",' in steps  # the last step has no relation: an unquoted empty cell
    doc = (tmp_path / "out" / "nodes_Document.csv").read_text().splitlines()
    title = doc[0].split(",").index("title:string")
    assert doc[1].split(",")[title] == '""'  # an empty title stays an empty string, not a missing property


def test_cli_load_bulk_then_upsert_and_export(running_home: Path, cli_graph: str, tmp_path: Path) -> None:
    from tests.console import proda

    first = proda("load", str(SAMPLE), "--json", home=running_home, graph=cli_graph)
    assert first.returncode == 0, first.stderr
    second = proda("load", str(SAMPLE), "--json", home=running_home, graph=cli_graph)
    forced = proda("load", str(SAMPLE), "--bulk", home=running_home, graph=cli_graph)
    [r1], [r2] = json.loads(first.stdout), json.loads(second.stdout)
    assert (r1["method"], r2["method"]) == ("bulk", "upsert")
    assert r1["written"] == r2["written"] == {"document": 2, "chunk": 2, "concept": 15, "relation": 13, "chain": 6}
    assert forced.returncode != 0 and "not empty" in forced.stderr
    out = tmp_path / "seed"
    exported = proda("graph", "export", str(out), "--input", str(SAMPLE), home=running_home)
    assert exported.returncode == 0, exported.stderr
    assert json.loads((out / "import.args").read_text())[0] == "--nodes=Document=nodes_Document.csv"
    assert len((out / "nodes_Concept.csv").read_text().splitlines()) == 1 + 15


def test_an_empty_file_loads_through_the_upsert_path(fresh_graph: Callable[[], FalkorDBStore],
                                                     tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    store = fresh_graph()
    report = load_file(store, path, home=tmp_path)
    assert (report.method, report.bulk_skipped, report.written) == ("upsert", "the file holds no element", {})
    assert store.query("graph_is_empty", {}) == [{"empty": True}]


def test_column_encoding_equals_value_encoding() -> None:
    """The column-wise GRAPH.BULK records are byte for byte the value-by-value encoding, for every
    column shape: plain strings, optional strings, ints, floats, bools, nulls, lists of strings
    (empty ones too), mixed lists and mixed columns."""
    from proda.schema.store.falkordb_bulk import _Encoder

    enc = _Encoder()
    rows = [
        ("é\"x", None, 3, 0.25, True, None, ["a", "ü"], [1, "b"], "s", None),
        ("", "opt", -2**40, -0.0, False, None, [], [], 7, None),
        ("z", None, 0, 1e300, True, None, ["", ";"], [2.5], None, None),
    ]
    expected = [b"".join(enc.value(v) for v in row) for row in rows]
    assert enc.records(rows, len(rows[0])) == expected
    ends = [b"E" * 16 for _ in rows]
    assert enc.records(rows, len(rows[0]), ends) == [e + x for e, x in zip(ends, expected, strict=True)]
    assert enc.records([(), ()], 0, [b"1", b"2"]) == [b"1", b"2"]
    assert enc.records([(None,), (None,)], 1) == [b"\x00", b"\x00"]


def test_a_bulk_load_broken_off_is_completed_by_rerunning(fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection lost after the first GRAPH.BULK call leaves part of the file in the graph; the rerun
    sees a non-empty graph, upserts, and ends with exactly the graph of an uninterrupted load."""
    import redis

    from proda.errors import GraphUnavailable
    from proda.schema.store import falkordb_bulk

    monkeypatch.setattr(falkordb_bulk, "CALL_BYTES", 1)  # one call per token, so there is a second call
    store, reference = fresh_graph(), fresh_graph()
    original = falkordb_bulk._Calls.flush
    calls = {"n": 0}

    def flaky(self: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise redis.exceptions.ConnectionError("connection lost")
        original(self)

    monkeypatch.setattr(falkordb_bulk._Calls, "flush", flaky)
    with pytest.raises(GraphUnavailable):
        load_file(store, SAMPLE, home=tmp_path / "a")
    assert store.query("graph_is_empty", {}) == [{"empty": False}]  # part of the file is there
    monkeypatch.setattr(falkordb_bulk._Calls, "flush", original)
    again = load_file(store, SAMPLE, home=tmp_path / "a")
    assert again.method == "upsert" and again.bulk_skipped == "the graph is not empty"
    load_file(reference, SAMPLE, home=tmp_path / "b")
    assert _snapshot(store) == _snapshot(reference)
