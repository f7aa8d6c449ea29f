"""End to end on real shared-corpus documents: ingest → heuristic extraction → resolve → check.

32 OpenStax modules (8 per discipline, tests/fixtures/corpus_e2e.jsonl) into the session's real
FalkorDB. The figures asserted are structural (what must hold for any correct run) plus the exact
document/chunk counts, which are deterministic for a fixed chunker.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proda.pipelines.check import structural_report
from proda.pipelines.extract.config import ExtractConfig
from proda.pipelines.extract.resolve import list_merges, merge, undo_merge
from proda.pipelines.extract.resolve_candidates import find_candidates
from proda.pipelines.extract.stage import run_extraction
from proda.pipelines.ingest import ingest_paths
from proda.schema.store.base import GraphStore

CORPUS = Path(__file__).parent / "fixtures" / "corpus_e2e.jsonl"
DISCIPLINES = ["business", "college_success", "computer_science", "economics"]


def _ingest_and_extract(store: GraphStore, home: Path, executor: str = "local") -> None:
    report = ingest_paths(store, [CORPUS])
    assert report.ok and report.new == 32
    run_extraction(store, ExtractConfig(backend="heuristic", executor=executor), home)


FRENCH = ("L'inflation est une hausse générale et durable des prix des biens et des services dans une économie. "
          "Elle diminue le pouvoir d'achat de la monnaie, et la banque centrale cherche à la maintenir faible "
          "et stable afin que les ménages et les entreprises puissent planifier leurs dépenses.")


def test_ingest_extract_resolve_check(falkordb_store: GraphStore, tmp_path: Path) -> None:
    store = falkordb_store
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text(json.dumps({"id": "economics/fr-inflation", "discipline": "economics",
                                   "title": "L'inflation", "text": FRENCH}) + "\n")
    assert ingest_paths(store, [foreign]).new == 1
    _ingest_and_extract(store, tmp_path)
    # a chunk the patterns do not cover is reported by id with the reason, and the run went on
    skipped = [json.loads(line) for line in (tmp_path / "runs" / "extract" / "heuristic__heuristic-v2" / "skipped"
                                             / "economics.jsonl").read_text().splitlines()]
    [fr_chunk] = store.run("MATCH (d:Document {source_id: 'economics/fr-inflation'})-[:HAS_CHUNK]->(k:Chunk) "
                           "RETURN k.id AS id")
    assert {"chunk_id": fr_chunk["id"], "reason": "not English prose"}.items() <= next(
        s for s in skipped if s["chunk_id"] == fr_chunk["id"]).items()
    before = structural_report(store)
    per = {d.discipline: d for d in before.disciplines}
    assert sorted(per) == DISCIPLINES
    for name, d in per.items():
        assert d.documents == (9 if name == "economics" else 8), name
        assert d.chunks >= 8, name
        # every discipline yields knowledge at all three levels
        assert d.chains >= 5 and d.relations >= d.chains and d.concepts >= 2, (name, d)
        # heuristic chains are built from the relations they contain: every L2 edge lies on a chain
        assert d.relation_reachability == pytest.approx(1.0), name
        assert d.broken_chains == 0, name
        # the output is labelled as heuristic everywhere
        assert set(d.extractors) == {"heuristic"}, name
    assert before.total().chains >= 100

    # traceability: each relation's evidence is a verbatim span of the chunk it cites
    rows = store.run("MATCH (a:Concept)-[r:RELATION]->(b:Concept) MATCH (k:Chunk {id: r.chunk_id}) "
                     "RETURN r.evidence AS evidence, k.text AS text, r.extractor AS extractor")
    assert rows and all(r["evidence"] and r["evidence"] in r["text"] for r in rows)
    chains = store.run("MATCH (ch:Chain)-[:FROM_CHUNK]->(k:Chunk)<-[:HAS_CHUNK]-(d:Document) "
                       "RETURN count(DISTINCT ch) AS n")
    assert chains[0]["n"] == before.total().chains

    # resuming: a second run finds nothing left to do and changes nothing
    again = run_extraction(store, ExtractConfig(backend="heuristic"), tmp_path)
    assert again.shards == []
    assert structural_report(store).total().relations == before.total().relations

    # entity resolution merges some concepts, is recorded, and undoes exactly
    made = [m for d in DISCIPLINES for m in merge(store, find_candidates(store, d))]
    recorded = list_merges(store)
    assert {m.id for m in recorded} == {m.id for m in made}
    assert all(m.discipline == store.run("MATCH (c:Concept {id: $id}) RETURN c.discipline AS d",
                                         {"id": m.canonical_id})[0]["d"] for m in made)
    if made:
        undo_merge(store, made[0].id)
        assert {m.id for m in list_merges(store)} == {m.id for m in made[1:]}

    # a changed document replaces its chunks and marks what came from the old ones stale
    doc = json.loads(CORPUS.read_text().splitlines()[0])
    [hit] = store.run("MATCH (d:Document {source_id: $sid})-[:HAS_CHUNK]->(k:Chunk) "
                      "MATCH ()-[r:RELATION {chunk_id: k.id}]->() RETURN r.evidence AS evidence LIMIT 1",
                      {"sid": doc["id"]})
    assert hit["evidence"] in doc["text"]
    doc["text"] = doc["text"].replace(hit["evidence"], hit["evidence"] + " (Revised.)", 1)
    changed = tmp_path / "changed.jsonl"
    changed.write_text(json.dumps(doc) + "\n")
    second = ingest_paths(store, [changed])
    assert second.changed == 1 and second.chunks_deleted >= 1
    assert sum(second.stale.values()) >= 1


@pytest.mark.slow
def test_ray_executor_gives_the_same_graph(falkordb_store: GraphStore, tmp_path: Path) -> None:
    """The same shards on a local Ray instance write the same elements as the local executor."""
    pytest.importorskip("ray")
    store = falkordb_store
    ingest_paths(store, [CORPUS])
    report = run_extraction(store, ExtractConfig(backend="heuristic", executor="ray", discipline="economics"),
                            tmp_path / "ray")
    assert [s.discipline for s in report.shards] == ["economics"]
    via_ray = store.run("MATCH ()-[r:RELATION]->() RETURN r.id AS id ORDER BY id")
    store.clear()
    store.ensure_schema()
    ingest_paths(store, [CORPUS])
    run_extraction(store, ExtractConfig(backend="heuristic", executor="local", discipline="economics"),
                   tmp_path / "local")
    via_local = store.run("MATCH ()-[r:RELATION]->() RETURN r.id AS id ORDER BY id")
    assert via_ray and via_ray == via_local
