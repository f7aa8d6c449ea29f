"""``proda load`` (pipelines/load.py) against a real FalkorDB: idempotence, errors naming lines,
forward references, id collisions, resume after a kill, and --skip-invalid."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from proda.errors import IdCollision, InputError
from proda.pipelines.load import load_file
from proda.schema.models import Chain, Chunk, Concept, Document, Relation
from proda.schema.store import FalkorDBStore, GraphStore
from tests.graphs import graph_content

SAMPLE = Path(str(resources.files("proda.sample") / "knowledge.jsonl"))
DISC = "testing"


# -- helpers ------------------------------------------------------------------------------------

def concept(name: str, **extra: Any) -> Concept:
    return Concept(name=name, discipline=DISC, **extra)


def relation(subject: Concept, rel_type: str, obj: Concept) -> Relation:
    return Relation(type=rel_type, subject_id=subject.id, object_id=obj.id, discipline=DISC)


def line(record: Concept | Relation | Chain) -> str:
    return json.dumps(record.model_dump(mode="json"))


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
    return path


def snapshot(store: GraphStore) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every node (labels, id) and every edge (type, from, to, id, pos), sorted: the graph's content."""
    nodes = sorted((tuple(r["labels"]), r["id"]) for r in store.run("MATCH (n) RETURN labels(n) AS labels, n.id AS id"))
    edges = sorted(
        (r["t"], r["s"], r["o"], r["id"] or "", r["pos"] if r["pos"] is not None else -1)
        for r in store.run("MATCH (a)-[r]->(b) RETURN type(r) AS t, a.id AS s, b.id AS o, r.id AS id, r.pos AS pos")
    )
    return nodes, edges


def counts(store: GraphStore) -> dict[tuple[str, str], int]:
    return {(r["discipline"], r["element"]): r["count"] for r in store.query("discipline_counts", {})}


def ids_of(store: GraphStore, label: str) -> set[str]:
    return {r["id"] for r in store.run(f"MATCH (n:{label}) RETURN n.id AS id")}


def clean_load(make: Callable[[], FalkorDBStore], path: Path, tmp_path: Path) -> FalkorDBStore:
    """One uninterrupted load of ``path`` into a new graph, with a home (checkpoint) of its own."""
    store = make()
    home = tmp_path / f"ref-home-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    load_file(store, path, home=home)
    return store


# -- idempotence ------------------------------------------------------------------------------------

def test_loading_the_sample_twice_changes_nothing(falkordb_store: FalkorDBStore, proda_home: Path) -> None:
    first = load_file(falkordb_store, SAMPLE, home=proda_home)
    assert first.ok
    assert first.written == {"document": 2, "chunk": 2, "concept": 15, "relation": 13, "chain": 6}
    after_first = counts(falkordb_store)
    graph_first = snapshot(falkordb_store)
    assert after_first[("economics", "concepts")] == 9
    assert after_first[("computer_science", "relations")] == 6

    # re-reading every line MERGEs onto the same elements: same counts written, nothing duplicated
    again = load_file(falkordb_store, SAMPLE, home=proda_home, restart=True)
    assert again.written == first.written
    assert counts(falkordb_store) == after_first
    assert snapshot(falkordb_store) == graph_first

    # a plain rerun (checkpoint says everything is committed) leaves the graph as it is too
    load_file(falkordb_store, SAMPLE, home=proda_home)
    assert snapshot(falkordb_store) == graph_first


def test_the_name_a_concept_shows_does_not_depend_on_which_spelling_was_written_last(store: GraphStore) -> None:
    """Sources spell one concept differently (a hand-made file "Fair Trade Act", an extractor "fair
    trade act"); whatever order they are written in, and however often, the concept shows
    the cased spelling, else the first in string order, and keeps one id and its aliases."""
    from proda.schema.store.writer import GraphWriter

    writer = GraphWriter(store)
    spellings = ["fair trade act", "Fair Trade Act", "fair  trade act.", "Fair trade act"]
    shown = []
    for order in (spellings, spellings[::-1], spellings[1:] + spellings[:1]):
        store.clear()
        for n, name in enumerate(order):
            writer.write([concept(name, aliases=[f"alias {n}"])])
        rows = store.run("MATCH (c:Concept) RETURN c.id AS id, c.name AS name, c.aliases AS aliases")
        assert len(rows) == 1 and rows[0]["id"] == concept("fair trade act").id
        assert sorted(rows[0]["aliases"]) == [f"alias {n}" for n in range(len(order))]
        shown.append(rows[0]["name"])
    assert shown == ["Fair Trade Act"] * 3  # cased beats lowercase; "Fair T" < "Fair t"
    writer.write([concept("fair trade act")])  # a rerun of the lowercase source changes nothing
    assert store.run("MATCH (c:Concept) RETURN c.name AS name") == [{"name": "Fair Trade Act"}]


def test_an_element_stated_by_several_sources_keeps_one_source_whatever_the_write_order(store: GraphStore) -> None:
    """A relation, chain and concept written by three sources (a hand-made file, an extractor, a less
    confident one) in every order end with the same properties: the source with the highest
    confidence, then the greatest extractor, prompt version, model, chunk and evidence; a missing
    model stays missing."""
    import itertools

    from proda.schema.models import Provenance
    from proda.schema.store.writer import GraphWriter

    a, b = concept("fair trade act"), concept("import quota")
    sources = [("gold", None, 1.0, "chk_1", "The act limits quotas."),
               ("dependency", None, 1.0, "chk_2", "the act decreases import quota."),
               ("zzz", "m", 0.4, "chk_3", "A weak reading.")]

    def stated(extractor: str, model: str | None, confidence: float, chunk: str, evidence: str) -> list[Any]:
        p = Provenance(extractor=extractor, model=model, prompt_version=f"{extractor}-v1")
        r = Relation(type="decreases", subject_id=a.id, object_id=b.id, discipline=DISC, evidence=evidence,
                     chunk_id=chunk, confidence=confidence, provenance=p)
        c = Chain(discipline=DISC, relation_ids=[r.id], concept_ids=[a.id, b.id], relation_types=["decreases"],
                  chunk_id=chunk, evidence=evidence, provenance=p)
        return [a.model_copy(update={"provenance": p, "description": f"from {extractor}"}), b, r, c]

    graphs = []
    for order in itertools.permutations(sources):
        for one_batch in (False, True):  # one write per source, or every statement in one UNWIND
            store.clear()
            if one_batch:
                GraphWriter(store).write([e for source in order for e in stated(*source)])
            else:
                for source in order:
                    GraphWriter(store).write(stated(*source))
            graphs.append(graph_content(store))
    assert all(g == graphs[0] for g in graphs[1:])
    edge = store.run("MATCH ()-[r:RELATION]->() RETURN properties(r) AS p")[0]["p"]
    assert (edge["extractor"], edge["evidence"], edge["chunk_id"]) == ("gold", "The act limits quotas.", "chk_1")
    assert "model" not in edge or edge["model"] is None
    chain = store.run("MATCH (c:Chain) RETURN c.extractor AS x, c.evidence AS e, c.model AS m")[0]
    assert chain == {"x": "zzz", "e": "A weak reading.", "m": "m"}  # chains have no confidence: the extractor decides
    shown = store.run("MATCH (c:Concept {id: $id}) RETURN c.extractor AS x, c.description AS d", {"id": a.id})
    assert shown == [{"x": "zzz", "d": "from zzz"}]


def test_reloading_after_the_graph_was_reset_writes_the_file_again(
        falkordb_store: FalkorDBStore, proda_home: Path) -> None:
    load_file(falkordb_store, SAMPLE, home=proda_home)
    falkordb_store.clear()  # what `proda graph reset --yes` does
    report = load_file(falkordb_store, SAMPLE, home=proda_home)
    assert counts(falkordb_store).get(("economics", "concepts")) == 9, (
        f"graph left empty; report: skipped_resumed={report.skipped_resumed} written={report.written}")


# -- malformed input --------------------------------------------------------------------------------

def test_malformed_line_names_file_and_line_keeps_earlier_lines_and_rerun_completes(
        falkordb_store: FalkorDBStore, proda_home: Path, tmp_path: Path,
        fresh_graph: Callable[[], FalkorDBStore]) -> None:
    a, b, c, d = (concept(n) for n in ("alpha", "beta", "gamma", "delta"))
    good = [line(a), line(b), line(relation(a, "causes", b)), line(c), line(d), line(relation(c, "enables", d))]
    bad = [*good[:3], '{"kind": "concept", "name": "gamma", ', *good[4:]]
    path = write_jsonl(tmp_path / "knowledge.jsonl", bad)

    with pytest.raises(InputError) as err:
        load_file(falkordb_store, path, home=proda_home, batch_size=2)
    assert f"{path}:4" in str(err.value)
    assert "malformed JSON" in str(err.value)
    assert err.value.line == 4
    assert ids_of(falkordb_store, "Concept") == {a.id, b.id}
    assert {r["id"] for r in falkordb_store.run("MATCH ()-[r:RELATION]->() RETURN r.id AS id")} == {
        relation(a, "causes", b).id}

    write_jsonl(path, good)  # the user fixes line 4 and runs the load again
    report = load_file(falkordb_store, path, home=proda_home, batch_size=2)
    assert report.ok
    assert snapshot(falkordb_store) == snapshot(clean_load(fresh_graph, path, tmp_path))


def test_unknown_relation_type_names_line_and_type(falkordb_store: FalkorDBStore, proda_home: Path,
                                                   tmp_path: Path) -> None:
    a, b = concept("alpha"), concept("beta")
    rel = relation(a, "causes", b).model_dump(mode="json") | {"type": "teleports_to"}
    path = write_jsonl(tmp_path / "k.jsonl", [line(a), line(b), json.dumps(rel)])
    with pytest.raises(InputError) as err:
        load_file(falkordb_store, path, home=proda_home)
    assert f"{path}:3" in str(err.value)
    assert "teleports_to" in str(err.value)
    assert ids_of(falkordb_store, "Concept") == {a.id, b.id}


def test_non_utf8_bytes_name_the_line(falkordb_store: FalkorDBStore, proda_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "k.jsonl"
    path.write_bytes(line(concept("alpha")).encode() + b"\n" + b'{"kind": "concept", "name": "b\xff\xfe"}\n')
    with pytest.raises(InputError) as err:
        load_file(falkordb_store, path, home=proda_home)
    assert f"{path}:2" in str(err.value)
    assert "utf-8" in str(err.value).lower()
    assert ids_of(falkordb_store, "Concept") == {concept("alpha").id}


@pytest.mark.parametrize("bulk", [None, False], ids=["bulk", "upsert"])
def test_a_byte_order_mark_opening_the_file_is_not_data(falkordb_store: FalkorDBStore, proda_home: Path,
                                                        tmp_path: Path, bulk: bool | None) -> None:
    path = tmp_path / "k.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + SAMPLE.read_bytes())
    report = load_file(falkordb_store, path, home=proda_home, bulk=bulk)
    assert report.ok and report.method == ("bulk" if bulk is None else "upsert")
    assert report.written == {"document": 2, "chunk": 2, "concept": 15, "relation": 13, "chain": 6}


def test_a_byte_order_mark_inside_the_file_names_its_line(falkordb_store: FalkorDBStore, proda_home: Path,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "k.jsonl"
    path.write_bytes(line(concept("alpha")).encode() + b"\n\xef\xbb\xbf" + line(concept("beta")).encode() + b"\n")
    with pytest.raises(InputError) as err:
        load_file(falkordb_store, path, home=proda_home)
    assert f"{path}:2" in str(err.value) and "BOM" in str(err.value)


# -- id collisions ----------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [5000, 1], ids=["same-batch", "later-batch"])
def test_two_records_with_one_explicit_id_collide(falkordb_store: FalkorDBStore, proda_home: Path,
                                                  tmp_path: Path, batch_size: int) -> None:
    first, second = concept("alpha", id="x"), concept("beta", id="x")
    path = write_jsonl(tmp_path / "k.jsonl", [line(concept("gamma")), line(first), line(second)])
    with pytest.raises(IdCollision) as err:
        load_file(falkordb_store, path, home=proda_home, batch_size=batch_size)
    assert f"{path}:3" in str(err.value)
    assert "'x'" in str(err.value)
    names = [r["name"] for r in falkordb_store.run("MATCH (c:Concept {id: 'x'}) RETURN c.name AS name")]
    assert names in ([], ["alpha"])  # never overwritten by the colliding record


def test_collision_with_an_element_loaded_earlier(falkordb_store: FalkorDBStore, proda_home: Path,
                                                  tmp_path: Path) -> None:
    earlier = write_jsonl(tmp_path / "a.jsonl", [line(concept("alpha", id="x"))])
    load_file(falkordb_store, earlier, home=proda_home)
    later = write_jsonl(tmp_path / "b.jsonl", [line(concept("gamma")), line(concept("beta", id="x"))])
    with pytest.raises(IdCollision) as err:
        load_file(falkordb_store, later, home=proda_home)
    assert f"{later}:2" in str(err.value)
    assert falkordb_store.run("MATCH (c:Concept {id: 'x'}) RETURN c.name AS name") == [{"name": "alpha"}]


# -- references -------------------------------------------------------------------------------------

def test_relation_before_its_concepts_is_deferred_and_written(falkordb_store: FalkorDBStore, proda_home: Path,
                                                              tmp_path: Path) -> None:
    a, b = concept("alpha"), concept("beta")
    rel = relation(a, "causes", b)
    path = write_jsonl(tmp_path / "k.jsonl", [line(rel), line(a), line(b)])
    # batch size 1: the relation's batch is written before the concepts exist
    report = load_file(falkordb_store, path, home=proda_home, batch_size=1)
    assert report.ok
    assert report.written == {"concept": 2, "relation": 1}
    rows = falkordb_store.query("concept_neighbours", {"id": a.id})
    assert [(r["direction"], r["type"], r["neighbour_id"]) for r in rows] == [("out", "causes", b.id)]


def test_relation_to_a_concept_that_never_appears_is_an_unresolved_error(
        falkordb_store: FalkorDBStore, proda_home: Path, tmp_path: Path) -> None:
    a, b, ghost = concept("alpha"), concept("beta"), concept("ghost")
    path = write_jsonl(tmp_path / "k.jsonl", [line(a), line(relation(a, "causes", ghost)), line(b),
                                              line(relation(a, "enables", b))])
    with pytest.raises(InputError, match="unresolved reference") as err:
        load_file(falkordb_store, path, home=proda_home, batch_size=1)
    assert err.value.line == 2
    assert f"{path}:2" in str(err.value)
    assert ghost.id in str(err.value)
    assert ids_of(falkordb_store, "Concept") == {a.id, b.id}
    edges = falkordb_store.run("MATCH ()-[r:RELATION]->() RETURN r.type AS type")
    assert edges == [{"type": "enables"}]


def test_chain_over_a_missing_edge_is_unresolved_and_not_written(falkordb_store: FalkorDBStore,
                                                                 proda_home: Path, tmp_path: Path) -> None:
    a, b, c = concept("alpha"), concept("beta"), concept("gamma")
    ab, bc = relation(a, "causes", b), relation(b, "causes", c)  # bc is never loaded
    chain = Chain(discipline=DISC, relation_ids=[ab.id, bc.id], concept_ids=[a.id, b.id, c.id])
    good = Chain(discipline=DISC, relation_ids=[ab.id], concept_ids=[a.id, b.id])
    path = write_jsonl(tmp_path / "k.jsonl", [line(a), line(b), line(c), line(ab), line(chain), line(good)])
    with pytest.raises(InputError, match="unresolved reference") as err:
        load_file(falkordb_store, path, home=proda_home)
    assert err.value.line == 5
    assert chain.id in str(err.value)
    assert ids_of(falkordb_store, "Chain") == {good.id}


# -- resume and skip-invalid ------------------------------------------------------------------------

def test_killed_load_resumes_and_ends_like_a_clean_load(falkordb_store: FalkorDBStore, proda_home: Path,
                                                        tmp_path: Path,
                                                        fresh_graph: Callable[[], FalkorDBStore]) -> None:
    concepts = [concept(f"c{i}") for i in range(1100)]
    rels = [relation(concepts[i], "precedes", concepts[i + 1]) for i in range(0, 60)]
    chain = Chain(discipline=DISC, relation_ids=[r.id for r in rels[:3]],
                  concept_ids=[c.id for c in concepts[:4]])
    path = write_jsonl(tmp_path / "big.jsonl", [line(x) for x in [*concepts, *rels, chain]])
    total = 1100 + 60 + 1

    def kill(lines_read: int, _bytes: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C or SIGINT mid-load

    with pytest.raises(KeyboardInterrupt):  # the upsert path: a bulk first load commits nothing until the end
        load_file(falkordb_store, path, home=proda_home, batch_size=300, progress=kill, bulk=False)
    partial = len(ids_of(falkordb_store, "Concept"))
    assert 0 < partial < 1100

    report = load_file(falkordb_store, path, home=proda_home, batch_size=300)
    assert report.ok
    assert report.lines == total
    assert report.skipped_resumed == partial  # every committed line was skipped, nothing more
    assert report.written["concept"] == 1100 - partial
    assert snapshot(falkordb_store) == snapshot(clean_load(fresh_graph, path, tmp_path))


def test_skip_invalid_reports_bad_lines_and_writes_all_valid_ones(falkordb_store: FalkorDBStore,
                                                                  proda_home: Path, tmp_path: Path) -> None:
    a, b, c = concept("alpha"), concept("beta"), concept("gamma")
    unknown = relation(a, "causes", b).model_dump(mode="json") | {"type": "teleports_to"}
    path = write_jsonl(tmp_path / "k.jsonl", [
        line(a), "not json", line(b), json.dumps(unknown), '{"kind": "concept"}', line(c),
        line(relation(a, "causes", b)),
    ])
    report = load_file(falkordb_store, path, home=proda_home, skip_invalid=True)
    assert not report.ok
    assert [ln for ln, _ in report.rejected] == [2, 4, 5]
    assert "malformed JSON" in report.rejected[0][1]
    assert "teleports_to" in report.rejected[1][1]
    assert "name" in report.rejected[2][1]
    assert ids_of(falkordb_store, "Concept") == {a.id, b.id, c.id}
    assert report.written == {"concept": 3, "relation": 1}


def test_links_to_a_chunk_later_in_the_file_are_made_like_in_dependency_order(
        falkordb_store: FalkorDBStore, proda_home: Path, tmp_path: Path,
        fresh_graph: Callable[[], FalkorDBStore]) -> None:

    doc = Document(source_id="testing/m1", discipline=DISC)
    chunk = Chunk(document_id=doc.id, ordinal=0, discipline=DISC, text="Alpha causes beta.")
    a, b = concept("alpha", chunk_ids=[chunk.id]), concept("beta", chunk_ids=[chunk.id])
    ab = relation(a, "causes", b)
    chain = Chain(discipline=DISC, relation_ids=[ab.id], concept_ids=[a.id, b.id], chunk_id=chunk.id)
    ordered = write_jsonl(tmp_path / "ordered.jsonl", [line(x) for x in (doc, chunk, a, b, ab, chain)])
    chunk_last = write_jsonl(tmp_path / "chunk_last.jsonl", [line(x) for x in (a, b, ab, chain, doc, chunk)])

    report = load_file(falkordb_store, chunk_last, home=proda_home, batch_size=1)
    assert report.ok
    reference = clean_load(fresh_graph, ordered, tmp_path)
    assert snapshot(falkordb_store) == snapshot(reference)
    assert report.unlinked_mentions == 0
