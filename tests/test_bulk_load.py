"""First loads at bulk speed: a graph created by GRAPH.BULK must equal the one the UNWIND upserts build."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from proda.errors import InputError, PreconditionFailed
from proda.pipelines.load import load_file
from proda.schema.store.base import GraphStore
from proda.schema.store.bulk import BulkGraph
from proda.schema.store.falkordb_store import FalkorDBStore
from proda.schema.store.neo4j_admin import write_neo4j_admin
from tests.graphs import graph_content

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "knowledge.jsonl"


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
    nodes, edges = graph_content(bulk_store)
    assert nodes and edges
    assert (nodes, edges) == graph_content(upsert_store)
    # indexes exist after a bulk load: the unique constraint rejects a second concept with the same id
    second = load_file(bulk_store, path, home=tmp_path / "a")
    assert second.method == "upsert" and second.bulk_skipped is not None
    assert "already in the graph" in second.bulk_skipped
    assert graph_content(bulk_store) == (nodes, edges)


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
    assert graph_content(store) == graph_content(reference)


def test_forced_bulk_into_a_filled_graph_adds_or_upserts(fresh_graph: Callable[[], FalkorDBStore],
                                                         tmp_path: Path) -> None:
    """``bulk=True`` into a graph that holds nodes tries the adding pass; what the graph holds already goes
    through the upsert path, as any refused pass does (tests/test_bulk_add.py covers the additions)."""
    store = fresh_graph()
    assert load_file(store, SAMPLE, home=tmp_path).method == "bulk"
    content = graph_content(store)
    again = load_file(store, SAMPLE, home=tmp_path, bulk=True)
    assert again.method == "upsert" and "already in the graph" in (again.bulk_skipped or "")
    assert graph_content(store) == content


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
    assert "--nodes=Concept=nodes_Concept.header.csv,nodes_Concept.csv" in args
    assert "--relationships=HAS_STEP=rels_HAS_STEP.csv" in args
    header = (tmp_path / "out" / "nodes_Concept.header.csv").read_text().splitlines()
    assert len(header) == 1 and header[0].split(",")[0] == "id:ID" and "aliases:string[]" in header[0].split(",")
    concept = (tmp_path / "out" / "nodes_Concept.csv").read_text().splitlines()
    assert len(concept) == 3  # rows only: neo4j-admin takes the header from the first file named
    row_a = next(r for r in concept if r.startswith('"con_a"'))
    assert '"a1;123"' in row_a
    steps = (tmp_path / "out" / "rels_HAS_STEP.csv").read_text().splitlines()
    assert steps[0] == ":START_ID,:END_ID,pos:long,relation_id:string"
    assert '"chn_1","con_c","2",' in steps  # the last step has no relation: an unquoted empty cell
    doc_header = (tmp_path / "out" / "nodes_Document.header.csv").read_text().strip().split(",")
    doc = (tmp_path / "out" / "nodes_Document.csv").read_text().splitlines()
    assert doc[0].split(",")[doc_header.index("title:string")] == '""'  # an empty title stays an empty string


def test_cli_load_bulk_then_upsert_and_export(running_home: Path, cli_graph: str, tmp_path: Path) -> None:
    from tests.console import proda

    first = proda("load", str(SAMPLE), "--json", home=running_home, graph=cli_graph)
    assert first.returncode == 0, first.stderr
    second = proda("load", str(SAMPLE), "--json", home=running_home, graph=cli_graph)
    forced = proda("load", str(SAMPLE), "--bulk", home=running_home, graph=cli_graph)
    [r1], [r2] = json.loads(first.stdout), json.loads(second.stdout)
    assert (r1["method"], r2["method"]) == ("bulk", "upsert")
    assert r1["written"] == r2["written"] == {"document": 2, "chunk": 2, "concept": 15, "relation": 13, "chain": 6}
    assert forced.returncode == 0, forced.stderr  # a filled graph is added to; what it holds goes row by row
    assert "row by row" in forced.stdout and "already in the graph" in forced.stdout
    out = tmp_path / "seed"
    exported = proda("graph", "export", str(out), "--input", str(SAMPLE), home=running_home)
    assert exported.returncode == 0, exported.stderr
    assert json.loads((out / "import.args").read_text())[0] == \
        "--nodes=Document=nodes_Document.header.csv,nodes_Document.csv"
    assert len((out / "nodes_Concept.csv").read_text().splitlines()) == 15


@pytest.mark.parametrize("content", [b"\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n\n"], ids=["blank", "bom", "bom-blank"])
def test_an_empty_file_loads_through_the_upsert_path(content: bytes, fresh_graph: Callable[[], FalkorDBStore],
                                                     tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    store = fresh_graph()
    report = load_file(store, path, home=tmp_path)
    assert (report.method, report.bulk_skipped, report.written) == ("upsert", "the file holds no element", {})
    assert store.query("graph_is_empty", {}) == [{"empty": True}]


@pytest.mark.parametrize("encoder", ["values", "columns"])
def test_record_encoding_is_the_value_encoding(encoder: str) -> None:
    """GRAPH.BULK records, column-wise in Python or in Arrow, are byte for byte the value-by-value
    encoding, for every column shape: plain strings, optional strings, ints, floats, bools, nulls, lists
    of strings (empty ones too), mixed lists and mixed columns."""
    from proda.schema.store.bulk_columns import ColumnEncoder
    from proda.schema.store.falkordb_bulk import ValueEncoder

    values = ValueEncoder()
    columns = ColumnEncoder(values)

    def records(rows: list[tuple[Any, ...]], width: int, ends: list[bytes] | None = None) -> list[bytes]:
        if encoder == "values":
            return values.records(rows, width, ends)
        import numpy as np

        packed = None
        if ends is not None:
            pairs = np.frombuffer(b"".join(ends), dtype="=u8").reshape(-1, 2)
            packed = columns.ends(pairs[:, 0], pairs[:, 1])
        return columns.records(rows, width, packed).to_pylist()

    rows = [
        ("é\"x", None, 3, 0.25, True, None, ["a", "ü"], [1, "b"], "s", None),
        ("", "opt", -2**40, -0.0, False, None, [], [], 7, None),
        ("z", None, 0, 1e300, True, None, ["", ";"], [2.5], None, None),
    ]
    expected = [b"".join(values.value(v) for v in row) for row in rows]
    assert records(rows, len(rows[0])) == expected
    ends = [values.pack_ends(i, 7 - i) for i in range(len(rows))]
    assert records(rows, len(rows[0]), ends) == [e + x for e, x in zip(ends, expected, strict=True)]
    assert records([(), ()], 0, ends[:2]) == ends[:2]
    assert records([(None,), (None,)], 1) == [b"\x00", b"\x00"]


@pytest.mark.parametrize("limit", [1, 12, 25, 10_000])
def test_arrow_tokens_cut_where_the_value_tokens_do(limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens cut from an Arrow record array hold the same records as the Python cutter's: whole records,
    under the byte limit unless a record alone is larger."""
    import pyarrow as pa

    from proda.schema.store import falkordb_bulk
    from proda.schema.store.bulk_columns import cut

    records = [b"a" * n for n in (3, 9, 1, 14, 2, 2, 30, 5)]
    header = b"HDR\x00"
    monkeypatch.setattr(falkordb_bulk, "TOKEN_BYTES", limit)
    expected = [(bytes(t), n) for t, n in falkordb_bulk._tokens(header, records)]
    sliced = pa.array([b"zz", *records], pa.binary())[1:]  # an array with an offset, as slices are
    assert [(bytes(t), n) for t, n in cut(header, sliced, limit)] == expected


def _tiny_plan(**change: Any) -> BulkGraph:
    """A document, a chunk, three concepts, two relations and a two-step chain; ``change`` swaps elements."""
    from proda.schema.models import Chain, Chunk, Concept, Document, Relation

    items: dict[str, Any] = {
        "doc": Document(id="doc_1", source_id="s/1", discipline="d"),
        "chunk": Chunk(id="chk_1", document_id="doc_1", ordinal=0, discipline="d", text="t"),
        "a": Concept(id="con_a", name="A", discipline="d", chunk_ids=["chk_1"]),
        "b": Concept(id="con_b", name="B", discipline="d"),
        "c": Concept(id="con_c", name="C", discipline="d"),
        "ab": Relation(id="rel_ab", type="causes", subject_id="con_a", object_id="con_b", discipline="d"),
        "bc": Relation(id="rel_bc", type="causes", subject_id="con_b", object_id="con_c", discipline="d"),
        "chain": Chain(id="chn_1", discipline="d", relation_ids=["rel_ab", "rel_bc"],
                       concept_ids=["con_a", "con_b", "con_c"], chunk_id="chk_1"),
    }
    items.update(change)
    plan = BulkGraph()
    for e in reversed(list(items.values())):  # any order
        if e is not None:
            plan.add(e)
    return plan


def test_bulk_plan_problems_name_the_element() -> None:
    """Anything the upsert path would resolve row by row sends the load there, naming the element."""
    from proda.schema.models import Chain, Chunk, Relation

    plan = _tiny_plan()
    assert plan.finish() is None
    with pytest.raises(PreconditionFailed, match="once its nodes are laid out"):
        plan.add(Chunk(id="chk_2", document_id="doc_1", ordinal=1, discipline="d", text="u"))
    orphan = Chunk(id="chk_1", document_id="doc_x", ordinal=0, discipline="d", text="t")
    assert _tiny_plan(chunk=orphan).finish() == "chunk 'chk_1': document 'doc_x' is not in the input"
    dangling = Relation(id="rel_bc", type="causes", subject_id="con_b", object_id="con_z", discipline="d")
    assert _tiny_plan(bc=dangling).finish() == ("relation 'rel_bc': concept 'con_b' or 'con_z' is not in the input")
    backwards = Chain(id="chn_1", discipline="d", relation_ids=["rel_ab", "rel_bc"],
                      concept_ids=["con_a", "con_c", "con_b"])
    assert _tiny_plan(chain=backwards).finish() == "chain 'chn_1': step 0 has no matching relation edge in the input"
    unknown = Chain(id="chn_1", discipline="d", relation_ids=["rel_ab", "rel_nope"],
                    concept_ids=["con_a", "con_b", "con_c"])
    assert _tiny_plan(chain=unknown).finish() == "chain 'chn_1': step 1 has no matching relation edge in the input"
    assert _tiny_plan(bc=None).finish() == "chain 'chn_1': step 1 has no matching relation edge in the input"
    twin = Relation(id="con_c", type="causes", subject_id="con_b", object_id="con_c", discipline="d")
    assert _tiny_plan(bc=twin).finish() == "relation id 'con_c' occurs more than once"


@pytest.mark.parametrize("source", ["sample", "awkward"])
def test_edge_ends_are_node_positions(source: str, tmp_path: Path) -> None:
    """Each edge table's ``ends`` name, by position in node creation order, the same nodes as its ids."""
    from proda.pipelines.load import parse_line
    from proda.schema import default_vocabulary

    path = SAMPLE if source == "sample" else _awkward_file(tmp_path / "awkward.jsonl")
    plan = BulkGraph()
    vocab = default_vocabulary()
    for line in path.read_text().splitlines():
        if line.strip():
            plan.add(parse_line(line, vocab))
    assert plan.finish() is None
    node_ids = [i for table in plan.nodes.values() for i in table.ids]
    assert {t.type for t in plan.edges} >= {"HAS_CHUNK", "MENTIONED_IN", "RELATION", "HAS_STEP"}
    for table in plan.edges:
        assert table.ends is not None
        src, dst = table.ends
        assert [node_ids[i] for i in src] == table.src and [node_ids[i] for i in dst] == table.dst, table.type
        assert len(table.row_slice(0, len(table))) == len(table)


def test_a_bulk_load_broken_off_leaves_the_graph_as_it_was(fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection lost after the first GRAPH.BULK call: the pass filled only its staging graph, which
    goes, so the graph is still empty and the rerun is a bulk pass ending with the graph of an
    uninterrupted load."""
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
    assert calls["n"] == 3  # the pass had sent calls
    assert store.query("graph_is_empty", {}) == [{"empty": True}]
    assert _graph_keys(store) == [store.graph_name]  # no staging graph left behind
    monkeypatch.setattr(falkordb_bulk._Calls, "flush", original)
    again = load_file(store, SAMPLE, home=tmp_path / "a")
    assert again.method == "bulk"
    load_file(reference, SAMPLE, home=tmp_path / "b")
    assert graph_content(store) == graph_content(reference)


def _graph_keys(store: FalkorDBStore) -> list[str]:
    """The keys whose name starts with the store's graph name (the graph and any staging graph or lease)."""
    conn = store._db.connection
    return sorted(k if isinstance(k, str) else k.decode() for k in conn.scan_iter(match=store.graph_name + "*"))


def test_a_reference_problem_found_after_the_nodes_went_leaves_nothing(fresh_graph: Callable[[], FalkorDBStore],
                                                                       tmp_path: Path) -> None:
    """The references are checked while the server inserts the nodes; a problem found then deletes
    what was created, and ``proda load`` takes the upsert path, which reports it by line."""
    from proda.errors import BulkRefused
    from proda.schema.models import Relation

    store = fresh_graph()
    dangling = Relation(id="rel_bc", type="causes", subject_id="con_b", object_id="con_z", discipline="d")
    plan = _tiny_plan(bc=dangling, chain=None)
    assert plan.finish_nodes() is None and plan.node_count() == 5
    with pytest.raises(BulkRefused, match="'con_z' is not in the input"):
        store.bulk_create(plan)
    assert store.query("graph_is_empty", {}) == [{"empty": True}]
    assert _graph_keys(store) == [store.graph_name]

    path = tmp_path / "dangling.jsonl"
    path.write_text(SAMPLE.read_text() + _line("relation", type="causes", subject_id=json.loads(
        SAMPLE.read_text().splitlines()[2])["id"], object_id="con_elsewhere", discipline="economics") + "\n")
    n_lines = len(path.read_text().splitlines())
    phases: list[str] = []
    with pytest.raises(InputError, match=f"dangling.jsonl:{n_lines}: unresolved reference: .*'con_elsewhere'"):
        load_file(store, path, home=tmp_path, phase=phases.append)
    assert phases[0] == "creating the graph in one pass while the file is read"
    assert phases[1].startswith(f"file read ({n_lines:,} elements)") and "row by row" in phases[2]
    assert "con_elsewhere" in phases[2]
    assert store.query("graph_is_empty", {}) == [{"empty": False}]  # the rest of the file is written


def _gated_calls(monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None) -> tuple[Any, list[int], Any]:
    """A _Calls whose first call waits for a gate, one call per token, recording what went out."""
    import threading

    from proda.schema.store import falkordb_bulk

    monkeypatch.setattr(falkordb_bulk, "CALL_BYTES", 1)
    gate, sent = threading.Event(), []

    def execute(*args: Any) -> bytes:
        n = int(args[-1].decode())  # the token's number
        if not sent:
            assert gate.wait(10)
        sent.append(n)
        if n == fail_at:
            raise RuntimeError(f"call {n} refused")
        return b"1 nodes created, 0 relations created"

    return falkordb_bulk._Calls(execute, "g"), sent, gate


def test_bulk_calls_queue_behind_the_one_on_the_wire_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """While the server holds the first call, the client builds and queues the next ones without waiting
    (up to CALLS_AHEAD outstanding); they go out in order and every reply is counted."""
    from proda.schema.store import falkordb_bulk

    calls, sent, gate = _gated_calls(monkeypatch)
    for n in range(falkordb_bulk.CALLS_AHEAD):  # the first blocks on the wire; the rest must not block here
        calls.add(str(n).encode(), 1, edge=False)
    assert sent == []
    gate.set()
    calls.add(str(falkordb_bulk.CALLS_AHEAD).encode(), 1, edge=False)
    calls.close()
    assert sent == list(range(falkordb_bulk.CALLS_AHEAD + 1)) and calls.created == [len(sent), 0]


def test_a_failed_bulk_call_drops_the_calls_queued_behind_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error of a call surfaces to the client and nothing queued after it reaches the server."""
    from proda.schema.store import falkordb_bulk

    calls, sent, gate = _gated_calls(monkeypatch, fail_at=1)
    for n in range(falkordb_bulk.CALLS_AHEAD):
        calls.add(str(n).encode(), 1, edge=False)
    gate.set()
    with pytest.raises(RuntimeError, match="call 1 refused"):
        calls.close()
    calls.abort()
    assert sent == [0, 1]


@pytest.mark.parametrize("source", ["sample", "awkward"])
@pytest.mark.parametrize("every", [1, 3, 1000])
def test_a_streamed_graph_lays_out_what_a_filed_one_does(source: str, every: int, tmp_path: Path) -> None:
    """Rows made as elements arrive and drained in slices give the same nodes, rows and edges as the
    graph that files every element first; edge ends name the same nodes by their streamed positions."""
    from proda.pipelines.load import parse_line
    from proda.schema import default_vocabulary

    path = SAMPLE if source == "sample" else _awkward_file(tmp_path / "awkward.jsonl")
    vocab = default_vocabulary()
    elements = [parse_line(line, vocab) for line in path.read_text().splitlines() if line.strip()]
    filed, streamed = BulkGraph(), BulkGraph(streamed=True)
    sent: list[tuple[str, tuple[Any, ...]]] = []  # (label, row) in creation order
    for i, e in enumerate(elements, start=1):
        filed.add(e)
        streamed.add(e)
        if i % every == 0:
            sent += [(piece.label, row) for piece in streamed.drain() for row in piece.rows]
    sent += [(piece.label, row) for piece in streamed.drain() for row in piece.rows]
    assert filed.finish() is None and streamed.finish() is None
    filed_rows = sorted(repr((t.label, row)) for t in filed.nodes.values() for row in t.rows)
    assert sorted(repr(x) for x in sent) == filed_rows and len(sent) == streamed.node_count()
    with pytest.raises(PreconditionFailed, match="went to the server"):
        _ = streamed.nodes["Concept"].rows
    created = [row[0] for _, row in sent]  # node ids by position
    assert [t.type for t in streamed.edges] == [t.type for t in filed.edges]
    for s_table, f_table in zip(streamed.edges, filed.edges, strict=True):
        assert (s_table.src, s_table.dst) == (f_table.src, f_table.dst), s_table.type
        assert s_table.rows == f_table.rows, s_table.type
        assert s_table.ends is not None
        src, dst = s_table.ends
        assert [created[i] for i in src] == s_table.src and [created[i] for i in dst] == s_table.dst
    assert (streamed.written, streamed.unlinked_mentions) == (filed.written, filed.unlinked_mentions)


def test_a_streamed_graph_refuses_an_id_twice_at_once() -> None:
    from proda.errors import BulkRefused
    from proda.schema.models import Concept

    graph = BulkGraph(streamed=True)
    graph.add(Concept(id="con_a", name="A", discipline="d"))
    with pytest.raises(BulkRefused, match="concept id 'con_a' occurs more than once"):
        graph.add(Concept(id="con_a", name="A", discipline="d"))
    with pytest.raises(PreconditionFailed, match="every row is drained"):
        graph.finish_nodes()


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_a_bad_line_after_nodes_went_loads_row_by_row(skip_invalid: bool, fresh_graph: Callable[[], FalkorDBStore],
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The nodes go while the file is read; a bad line found after some went empties the graph again and
    the upsert path reports it by line, having written every line before it (or skipped it)."""
    from proda.schema.store import falkordb_bulk

    monkeypatch.setattr(falkordb_bulk, "ROWS_PER_SLICE", 2)  # nodes go every second element
    lines = SAMPLE.read_text().splitlines()
    cut = len(lines) // 2
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([*lines[:cut], '{"kind": "concept", "name": ""}', *lines[cut:]]) + "\n")
    store, reference = fresh_graph(), fresh_graph()
    sent: list[int] = []
    original = falkordb_bulk._Calls.add

    def counted(self: Any, token: bytes, count: int, *, edge: bool, keys: Any = ()) -> None:
        sent.append(count)
        original(self, token, count, edge=edge, keys=keys)

    monkeypatch.setattr(falkordb_bulk._Calls, "add", counted)
    if skip_invalid:
        report = load_file(store, path, home=tmp_path / "a", skip_invalid=True)
        assert report.method == "bulk" and [ln for ln, _ in report.rejected] == [cut + 1]
        assert "name" in report.rejected[0][1]
        load_file(reference, SAMPLE, home=tmp_path / "b", bulk=False)
    else:
        with pytest.raises(InputError, match=f"bad.jsonl:{cut + 1}: invalid concept: concept.name"):
            load_file(store, path, home=tmp_path / "a")
        prefix = tmp_path / "prefix.jsonl"
        prefix.write_text("\n".join(lines[:cut]) + "\n")
        load_file(reference, prefix, home=tmp_path / "b", bulk=False)
    assert sent  # nodes had gone before the bad line was read
    assert graph_content(store) == graph_content(reference)


def test_a_first_load_stopped_by_hand_leaves_the_graph_empty(fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C after some nodes went: the pass's staging graph goes and the graph is still empty, so the
    rerun is a bulk load again (not an upsert into part of the file) and ends with the graph of an
    uninterrupted load."""
    from proda.pipelines import load as load_module
    from proda.schema.store import falkordb_bulk

    monkeypatch.setattr(falkordb_bulk, "ROWS_PER_SLICE", 2)  # nodes go every second element,
    monkeypatch.setattr(falkordb_bulk, "CALL_BYTES", 1)  # one call per token
    store, reference = fresh_graph(), fresh_graph()
    original, send = load_module.parse_line, falkordb_bulk._Calls._send
    sent = threading.Event()

    def sending(self: Any, args: list[Any]) -> Any:
        reply = send(self, args)
        sent.set()
        return reply

    def interrupted(text: str | bytes, vocab: Any) -> Any:
        if (b'"kind": "chain"' if isinstance(text, bytes) else '"kind": "chain"') in text:
            assert sent.wait(10)  # some nodes are in the graph
            raise KeyboardInterrupt
        return original(text, vocab)

    monkeypatch.setattr(falkordb_bulk._Calls, "_send", sending)
    monkeypatch.setattr(load_module, "parse_line", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_file(store, SAMPLE, home=tmp_path / "a")
    assert store.query("graph_is_empty", {}) == [{"empty": True}]
    assert _graph_keys(store) == [store.graph_name]
    monkeypatch.setattr(load_module, "parse_line", original)
    again = load_file(store, SAMPLE, home=tmp_path / "a")
    assert again.method == "bulk"
    load_file(reference, SAMPLE, home=tmp_path / "b")
    assert graph_content(store) == graph_content(reference)


def _split_sample(tmp_path: Path) -> tuple[Path, Path]:
    """The sample in two files, the first referring to elements of the second (relations and chains
    first, most concepts, the documents and chunks after them)."""
    lines = [ln for ln in SAMPLE.read_text().splitlines() if ln.strip()]
    kinds = [json.loads(ln)["kind"] for ln in lines]
    first = [ln for ln, k in zip(lines, kinds, strict=True) if k in ("relation", "chain")]
    second = [ln for ln, k in zip(lines, kinds, strict=True) if k not in ("relation", "chain")]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("\n".join(first) + "\n")
    b.write_text("\n".join(second) + "\n")
    return a, b


def test_the_files_of_one_load_go_in_one_bulk_pass(fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path) -> None:
    """Files that refer to each other's elements create the graph together, each with its own report;
    the graph is the one a load of the single file makes."""
    from proda.pipelines.load import load_files

    a, b = _split_sample(tmp_path)
    store, reference = fresh_graph(), fresh_graph()
    progress: list[int] = []
    reports = load_files(store, [a, b], home=tmp_path / "a", progress=lambda _ln, done: progress.append(done))
    assert [r.method for r in reports] == ["bulk", "bulk"]
    assert [r.lines for r in reports] == [len(a.read_text().splitlines()), len(b.read_text().splitlines())]
    assert set(reports[0].written) == {"relation", "chain"} and "relation" not in reports[1].written
    whole = load_file(reference, SAMPLE, home=tmp_path / "b")
    total = {k: reports[0].written.get(k, 0) + reports[1].written.get(k, 0) for k in whole.written}
    assert total == whole.written
    assert progress[-1] == a.stat().st_size + b.stat().st_size and progress == sorted(progress)
    assert graph_content(store) == graph_content(reference)


def test_files_that_cannot_go_together_are_upserted_in_turn(fresh_graph: Callable[[], FalkorDBStore],
                                                            tmp_path: Path) -> None:
    """An id in two files sends every file through the upsert path, in order; a bad line in the second
    file names that file and line, and the first file is loaded."""
    from proda.pipelines.load import load_files

    lines = [ln for ln in SAMPLE.read_text().splitlines() if ln.strip()]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("\n".join(lines) + "\n")
    b.write_text(lines[2] + "\n")  # a concept again: the upsert path merges it
    store, reference = fresh_graph(), fresh_graph()
    reports = load_files(store, [a, b], home=tmp_path / "a")
    assert [r.method for r in reports] == ["upsert", "upsert"]
    assert all(r.bulk_skipped is not None and "more than once" in r.bulk_skipped for r in reports)
    load_file(reference, SAMPLE, home=tmp_path / "b")
    assert graph_content(store) == graph_content(reference)

    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines[3] + "\n{\n")
    empty = fresh_graph()
    with pytest.raises(InputError, match=r"bad.jsonl:2: malformed JSON"):
        load_files(empty, [a, bad], home=tmp_path / "c")
    assert graph_content(empty) == graph_content(reference)  # the first file, and the good line of the second


def test_cli_loads_several_files_in_one_bulk_pass(running_home: Path, cli_graph: str, tmp_path: Path) -> None:
    from tests.console import proda

    a, b = _split_sample(tmp_path)
    done = proda("load", str(a), str(b), "--json", home=running_home, graph=cli_graph)
    assert done.returncode == 0, done.stderr
    assert [r["method"] for r in json.loads(done.stdout)] == ["bulk", "bulk"]
    missing = proda("load", str(a), str(tmp_path / "nowhere.jsonl"), home=running_home, graph=cli_graph)
    assert missing.returncode != 0 and "nowhere.jsonl" in missing.stderr and "no such file" in missing.stderr


@pytest.mark.parametrize("source", ["sample", "awkward", "byte-order-mark"])
def test_the_streamed_export_writes_what_the_filed_graph_does(source: str, tmp_path: Path) -> None:
    """`proda graph export` streams node rows to disk; its files are byte for byte those of the whole
    graph laid out first (a byte-order mark opening the file is no data, as for `proda load`), and a bad
    line or a reference outside the files stops it naming the problem."""
    from proda.pipelines.load import parse_line
    from proda.schema.vocabulary import default_vocabulary
    from tests.console import proda

    path = _awkward_file(tmp_path / "awkward.jsonl") if source == "awkward" else SAMPLE
    graph, vocab = BulkGraph(), default_vocabulary()
    for line in path.read_text().splitlines():
        if line.strip():
            graph.add(parse_line(line, vocab))
    assert graph.finish() is None
    write_neo4j_admin(graph, tmp_path / "filed")
    if source == "byte-order-mark":
        path = tmp_path / "bom.jsonl"
        path.write_bytes(b"\xef\xbb\xbf" + SAMPLE.read_bytes())
    done = proda("graph", "export", str(tmp_path / "streamed"), "--input", str(path), home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    filed = {f.name: f.read_bytes() for f in (tmp_path / "filed").iterdir()}
    assert filed and {f.name: f.read_bytes() for f in (tmp_path / "streamed").iterdir()} == filed

    bad = tmp_path / "bad.jsonl"
    bad.write_text(path.read_text() + "{\n")
    failed = proda("graph", "export", str(tmp_path / "bad"), "--input", str(bad), home=tmp_path / "home")
    n = len(bad.read_text().splitlines())
    assert failed.returncode != 0 and f"bad.jsonl:{n}" in failed.stderr and "malformed JSON" in failed.stderr
    dangling = tmp_path / "dangling.jsonl"
    dangling.write_text(_line("relation", type="causes", subject_id="con_x", object_id="con_y", discipline="d") + "\n")
    failed = proda("graph", "export", str(tmp_path / "dangling"), "--input", str(dangling), home=tmp_path / "home")
    assert failed.returncode != 0 and "cannot export in one pass" in failed.stderr and "con_x" in failed.stderr


def test_forward_references_between_files_resolve_on_the_upsert_path(fresh_graph: Callable[[], FalkorDBStore],
                                                                      tmp_path: Path) -> None:
    """On the upsert path, files are written one by one; what a file refers to in a later file of the same
    load is written once that file is in, and what no file holds is named by its file and line."""
    from proda.pipelines.load import load_files

    a, b = _split_sample(tmp_path)
    other = tmp_path / "other.jsonl"
    other.write_text(_line("concept", name="Unrelated", discipline="economics") + "\n")
    store, reference = fresh_graph(), fresh_graph()
    for graph, home in ((store, "a"), (reference, "b")):
        load_file(graph, other, home=tmp_path / home)
    reports = load_files(store, [a, b], home=tmp_path / "a", bulk=False)
    assert [r.method for r in reports] == ["upsert", "upsert"] and not any(r.unresolved for r in reports)
    load_file(reference, SAMPLE, home=tmp_path / "b")
    assert graph_content(store) == graph_content(reference)
    assert not list((tmp_path / "a" / "runs" / "load").glob("*.json"))  # both loads completed: no checkpoint

    dangling = tmp_path / "dangling.jsonl"
    dangling.write_text(_line("relation", type="causes", subject_id="con_x", object_id="con_y",
                              discipline="economics") + "\n")
    with pytest.raises(InputError, match=r"dangling.jsonl:1: unresolved reference: relation .*'con_x'"):
        load_files(store, [dangling, b], home=tmp_path / "a")


def _other_client(store: FalkorDBStore) -> FalkorDBStore:
    spec = store.spec()
    assert spec.host is not None and spec.port is not None
    return FalkorDBStore(spec.host, spec.port, spec.graph_name, password=spec.password)


def test_a_write_by_another_client_during_the_pass_is_kept_and_the_load_goes_row_by_row(
        fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another client writes into the graph while the bulk pass runs (between two of its calls): its
    write is not shifted under the pass's node positions, nor deleted; the pass gives way, and the file
    goes row by row into the graph that client made."""
    from proda.schema.models import Concept
    from proda.schema.store import falkordb_bulk
    from proda.schema.store.writer import GraphWriter

    monkeypatch.setattr(falkordb_bulk, "CALL_BYTES", 1)  # one call per token, so there are several calls
    store, reference = fresh_graph(), fresh_graph()
    other = _other_client(store)
    theirs = Concept(name="Theirs", discipline="economics")
    send = falkordb_bulk._Calls._send
    wrote = threading.Event()

    def sending(self: Any, args: list[Any]) -> Any:
        reply = send(self, args)
        if not wrote.is_set():  # after the pass's first call
            GraphWriter(other).write([theirs])
            wrote.set()
        return reply

    monkeypatch.setattr(falkordb_bulk._Calls, "_send", sending)
    try:
        report = load_file(store, SAMPLE, home=tmp_path / "a")
    finally:
        other.close()
    assert wrote.is_set()
    assert report.method == "upsert"
    assert report.bulk_skipped == "another client wrote into the graph while this load ran"
    assert _graph_keys(store) == [store.graph_name]  # the staging graph and its lease are gone
    GraphWriter(reference).write([theirs])
    load_file(reference, SAMPLE, home=tmp_path / "b")
    assert graph_content(store) == graph_content(reference)


def test_a_graph_touched_but_left_empty_meanwhile_is_still_replaced(fresh_graph: Callable[[], FalkorDBStore],
                                                                    tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Another client clears the (empty) graph just as the pass swaps its own in: the swap sees the key
    change, looks again, finds it still empty and replaces it."""
    from proda.schema.store import falkordb_staging

    store, reference = fresh_graph(), fresh_graph()
    other = _other_client(store)
    place, looks, placed = falkordb_staging.place, {"n": 0}, []

    def placing(conn: Any, staging: str, graph_name: str, is_empty: Callable[[], bool]) -> None:
        def looking() -> bool:
            looks["n"] += 1
            answer = is_empty()
            if looks["n"] == 1:  # the swap's first look
                other.clear()  # deletes the graph and makes its indexes again: the key changes under WATCH
            return answer

        placed.append(1)
        place(conn, staging, graph_name, looking)

    monkeypatch.setattr(falkordb_staging, "place", placing)
    try:
        report = load_file(store, SAMPLE, home=tmp_path / "a")
    finally:
        other.close()
    assert report.method == "bulk" and placed == [1]
    assert looks["n"] == 2  # the swap looked twice: once before the change, once after
    load_file(reference, SAMPLE, home=tmp_path / "b")
    assert graph_content(store) == graph_content(reference)
    assert _graph_keys(store) == [store.graph_name]


def test_two_first_loads_at_once_end_with_one_graph(fresh_graph: Callable[[], FalkorDBStore], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Two bulk passes into one empty graph, both complete before either swaps: one is swapped in, the
    other gives way and upserts its file; the graph is that of one load (the file is the same)."""
    from proda.schema.store import falkordb_staging

    store, reference = fresh_graph(), fresh_graph()
    second = _other_client(store)
    place = falkordb_staging.place
    both_done = threading.Barrier(2, timeout=60)

    def place_together(*args: Any) -> None:
        both_done.wait()
        place(*args)

    monkeypatch.setattr(falkordb_staging, "place", place_together)
    methods: dict[str, str] = {}
    errors: list[BaseException] = []

    def run(name: str, target: FalkorDBStore) -> None:
        try:
            methods[name] = load_file(target, SAMPLE, home=tmp_path / name).method
        except Exception as e:  # noqa: BLE001 - surfaced below, on the test thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n, t)) for n, t in (("a", store), ("b", second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    second.close()
    assert not errors
    assert sorted(methods.values()) == ["bulk", "upsert"]
    monkeypatch.setattr(falkordb_staging, "place", place)
    load_file(reference, SAMPLE, home=tmp_path / "ref")
    assert graph_content(store) == graph_content(reference)
    assert _graph_keys(store) == [store.graph_name]


def test_a_staging_graph_left_by_a_killed_pass_is_deleted_by_the_next(fresh_graph: Callable[[], FalkorDBStore],
                                                                      tmp_path: Path) -> None:
    """A pass killed mid-way leaves its staging graph; once its lease has run out the next pass deletes it,
    while one whose lease still runs (a pass in progress) is left alone; clearing the graph deletes such
    leftovers too."""
    from proda.schema.store import falkordb_staging

    store = fresh_graph()
    conn = store._db.connection
    killed, running = (falkordb_staging.staging_name(store.graph_name) for _ in range(2))
    for name in (killed, running):
        conn.execute_command("GRAPH.QUERY", name, "CREATE (:Concept {id: 'x'})")
    lease = falkordb_staging.Lease(conn, running)
    report = load_file(store, SAMPLE, home=tmp_path / "a")
    assert report.method == "bulk"
    assert _graph_keys(store) == sorted([store.graph_name, running, falkordb_staging.lease_key(running)])
    lease.release()  # that pass ends without a word (killed too): clearing the graph takes its staging graph
    store.clear()
    assert _graph_keys(store) == [store.graph_name]
    assert store.query("graph_is_empty", {}) == [{"empty": True}]


def _csv_records(text: str) -> list[list[tuple[str, bool]]]:
    """CSV records as neo4j-admin reads them: fields of (text, quoted); a quoted field may span lines
    (``--multiline-fields``) and doubles its quotes. Written here apart from the exporter, from the
    format's description, so that the comparison below does not check the exporter against itself."""
    records: list[list[tuple[str, bool]]] = []
    record: list[tuple[str, bool]] = []
    field, quoted, in_quotes, i = "", False, False, 0
    while i < len(text):
        ch = text[i]
        if in_quotes:
            if ch == '"' and text[i + 1:i + 2] == '"':
                field += '"'
                i += 1
            elif ch == '"':
                in_quotes = False
            else:
                field += ch
        elif ch == '"':
            in_quotes = quoted = True
        elif ch in ",\n":
            record.append((field, quoted))
            field, quoted = "", False
            if ch == "\n":
                records.append(record)
                record = []
        else:
            field += ch
        i += 1
    assert not in_quotes and not field and not record, "the file ends inside a record"
    return records


def _typed(header: list[tuple[str, bool]], row: list[tuple[str, bool]]) -> dict[str, Any]:
    """A row's properties by its header's ``name:type`` fields. An unquoted empty field is no property,
    and so is an empty array: neo4j-admin's CSV parser skips a value its extractor calls empty, which
    for arrays includes those of length 0."""
    assert len(row) == len(header)
    out: dict[str, Any] = {}
    for (spec, _), (text, quoted) in zip(header, row, strict=True):
        name, _, kind = spec.partition(":")
        if not quoted and text == "":
            continue
        if kind in ("ID", "START_ID", "END_ID"):
            out[name or kind] = text
        elif kind == "long":
            out[name] = int(text)
        elif kind == "double":
            out[name] = float(text)
        elif kind == "boolean":
            out[name] = text == "true"
        elif kind == "string[]":
            if text:
                out[name] = text.split(";")
        else:
            assert kind == "string", spec
            out[name] = text
    return out


def _neo4j_admin_content(out: Path) -> tuple[list[Any], list[Any]]:
    """What `neo4j-admin database import full` with the export's own arguments would create, in the
    shape of :func:`tests.graphs.graph_content`."""
    nodes, edges = [], []
    for arg in json.loads((out / "import.args").read_text()):
        kind, _, spec = arg.partition("=")
        if kind not in ("--nodes", "--relationships"):
            continue
        name, _, files = spec.partition("=")
        records = [r for f in files.split(",") for r in _csv_records((out / f).read_text(encoding="utf-8"))]
        header, rows = records[0], records[1:]
        for row in rows:
            props = _typed(header, row)
            if kind == "--nodes":
                nodes.append({"labels": [name], **props})
            else:
                src, dst = props.pop("START_ID"), props.pop("END_ID")
                edges.append({"type": name, "src": src, "dst": dst, "props": props})
    key = lambda x: json.dumps(x, sort_keys=True, default=str)  # noqa: E731
    return sorted(nodes, key=key), sorted(edges, key=key)


@pytest.mark.parametrize("source", ["sample", "awkward"])
def test_the_neo4j_admin_files_hold_the_graph_a_row_by_row_load_makes(
        source: str, tmp_path: Path, fresh_graph: Callable[[], FalkorDBStore]) -> None:
    """Read as neo4j-admin reads them (labels and types from the arguments and headers, arrays split on
    ';', an unquoted empty field and an empty array as no property), the exported files hold the nodes,
    properties and links that `proda load` makes row by row from the same file, but for the empty lists
    the row-by-row load stores, which neo4j-admin cannot: every read treats a missing list as empty."""
    from tests.console import proda

    path = _awkward_file(tmp_path / "awkward.jsonl") if source == "awkward" else SAMPLE
    done = proda("graph", "export", str(tmp_path / "out"), "--input", str(path), home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    store = fresh_graph()
    assert load_file(store, path, home=tmp_path / "load", bulk=False).method == "upsert"
    exported, (nodes, links) = _neo4j_admin_content(tmp_path / "out"), graph_content(store)
    key = lambda x: json.dumps(x, sort_keys=True, default=str)  # noqa: E731
    without_empty_lists = sorted(({k: v for k, v in n.items() if v != []} for n in nodes), key=key)
    assert any(v == [] for n in nodes for v in n.values())  # the sample and the awkward file both hold empty lists
    assert len(exported[0]) == len(nodes) and len(exported[1]) == len(links)
    assert exported == (without_empty_lists, links)
