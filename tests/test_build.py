"""The Builder on a real FalkorDB (the graph of tests/builder_world.py): families, grounding, links,
idempotence, budget, orthogonality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proda.errors import ConfigError, NotFound
from proda.pipelines.build import BuildConfig, build_examples
from proda.pipelines.build.builder import _distractors, read_relations
from proda.pipelines.build.export import export_hf, export_jsonl, iter_examples
from proda.pipelines.build.templates import RelationFacts, passage
from proda.pipelines.tester.model import instance_hash
from proda.pipelines.tester.question import question_text
from proda.schema.store.base import GraphStore
from proda.schema.vocabulary import default_vocabulary
from tests.builder_world import TEXT, builder_graph
from tests.graphs import covers

FIVE = ("definition", "statement", "reverse", "recall", "grounded")  # every family that speaks in sentences


def test_builds_every_family_grounded_and_linked(falkordb_store: GraphStore) -> None:
    covers("build_relations", "upsert_training_examples", "training_examples")
    store = falkordb_store
    r = builder_graph(store)
    report = build_examples(store, BuildConfig(families=FIVE))
    [econ] = report.disciplines
    # 4 relations: statement + reverse + recall each; definition only for is_a; grounded only with evidence
    assert dict(econ.families) == {"statement": 4, "reverse": 4, "recall": 4, "definition": 1, "grounded": 3}
    assert econ.examples == 16
    records = list(iter_examples(store, "v1"))
    assert len(records) == 16 and len({x["id"] for x in records}) == 16
    for x in records:
        assert [m["role"] for m in x["messages"]] == ["user", "assistant"]
        assert x["qa_hash"] == instance_hash(x["messages"][0]["content"], x["messages"][1]["content"])
    grounded = [x for x in records if x["family"] == "grounded"]
    for x in grounded:
        evidence = x["messages"][1]["content"].split("The passage says: “")[1].rstrip("”")
        assert evidence in TEXT and evidence in x["messages"][0]["content"]  # quoted from the passage shown
    recall = next(x for x in records if x["family"] == "recall" and x["relation_id"] == r["tax"].id)
    options = recall["messages"][0]["content"]
    assert "wages" not in options  # a true object of (tax, increases) is never a distractor
    assert "price" in options
    # linked to what they teach, grounded in their chunk, never to a chain
    links = store.run("MATCH (x:TrainingExample {relation_id: $id}) "
                      "RETURN size([(x)-[:TEACHES]->(:Concept) | 1]) AS teaches, "
                      "size([(x)-[:FROM_CHUNK]->(:Chunk) | 1]) AS chunks, "
                      "size([(x)-[:FROM_CHAIN]->() | 1]) AS chains", {"id": r["demand"].id})
    assert links and all(row == {"teaches": 2, "chunks": 1, "chains": 0} for row in links)
    assert store.query("bench_orthogonality", {}) == []


def test_rebuilding_is_idempotent_and_budget_samples(falkordb_store: GraphStore) -> None:
    store = falkordb_store
    builder_graph(store)
    build_examples(store, BuildConfig(families=FIVE))
    before = store.run("MATCH (x:TrainingExample) RETURN x.id AS id ORDER BY id")
    again = build_examples(store, BuildConfig(families=FIVE))
    assert again.examples == 16
    assert store.run("MATCH (x:TrainingExample) RETURN x.id AS id ORDER BY id") == before
    small = build_examples(store, BuildConfig(dataset="small", budget=5, seed=7, families=FIVE))
    assert small.examples == 5
    assert [x["id"] for x in iter_examples(store, "small")] == [
        x["id"] for x in iter_examples(store, "small")]  # stable order
    other = build_examples(store, BuildConfig(dataset="small2", budget=5, seed=8, families=FIVE))
    assert other.examples == 5


def test_relation_pages_by_subject_lose_nothing_at_any_page_size(falkordb_store: GraphStore) -> None:
    store = falkordb_store
    r = builder_graph(store)
    everything = {x.id for x in read_relations(store, "economics", 1000)}
    assert everything == {x.id for x in r.values()}
    # pages of 1..3 concepts: concepts without relations, and a subject with two relations (tax) on a
    # page boundary, neither stop the walk early nor repeat a relation
    for size in (1, 2, 3):
        ids = [x.id for x in read_relations(store, "economics", size)]
        assert sorted(ids) == sorted(everything), size
    # a merged-away object and a stale relation are not the Builder's input
    store.run("MATCH (c:Concept {id: $id}) SET c.merged_into = 'elsewhere'", {"id": r["floor"].object_id},
              read_only=False)
    store.run("MATCH ()-[x:RELATION {id: $id}]->() SET x.stale = true", {"id": r["demand"].id}, read_only=False)
    for size in (1, 1000):
        assert {x.id for x in read_relations(store, "economics", size)} == {r["tax"].id, r["tax2"].id}, size
    assert list(read_relations(store, "no such discipline", 2)) == []


def test_example_identical_to_a_benchmark_item_is_not_written(falkordb_store: GraphStore) -> None:
    covers("benchmark_hash_hits")
    store = falkordb_store
    builder_graph(store)
    probe = build_examples(store, BuildConfig(dataset="probe", families=("statement",)))
    [first] = list(iter_examples(store, "probe"))[:1]
    store.run("CREATE (:BenchmarkItem {id: 'bmi_x', qa_hash: $h})", {"h": first["qa_hash"]}, read_only=False)
    report = build_examples(store, BuildConfig(dataset="clean", families=("statement",)))
    [econ] = report.disciplines
    assert econ.skipped["instance-identical to a benchmark item"] == 1
    assert econ.examples == probe.examples - 1
    assert first["qa_hash"] not in {x["qa_hash"] for x in iter_examples(store, "clean")}


def test_question_family_asks_in_the_benchmark_wording_and_skips_held_out_items(falkordb_store: GraphStore) -> None:
    store = falkordb_store
    r = builder_graph(store)
    vocab = default_vocabulary()
    assert BuildConfig().families == ("question",)  # V1's recipe, chosen on dev
    build_examples(store, BuildConfig(dataset="asked"))
    records = {x["relation_id"]: x for x in iter_examples(store, "asked")}
    assert set(records) == {rel.id for rel in r.values()}  # one per relation
    tax = records[r["tax"].id]["messages"]
    assert tax[0]["content"] == question_text("economics", "tax", ["increases"], vocab)
    assert tax[1]["content"] == "price"  # the concept's name: what the evaluation scores as the answer
    # a one-step benchmark item over the same relation is the same instance: the Builder leaves it out
    store.run("CREATE (:BenchmarkItem {id: 'bmi_tax', qa_hash: $h})",
              {"h": instance_hash(tax[0]["content"], "price")}, read_only=False)
    report = build_examples(store, BuildConfig(dataset="asked2", families=("question",)))
    assert report.disciplines[0].skipped["instance-identical to a benchmark item"] == 1
    assert r["tax"].id not in {x["relation_id"] for x in iter_examples(store, "asked2")}


def test_export_jsonl_and_hf(falkordb_store: GraphStore, tmp_path: Path) -> None:
    store = falkordb_store
    builder_graph(store)
    build_examples(store, BuildConfig(families=FIVE))
    n = export_jsonl(store, "v1", tmp_path / "v1.jsonl")
    lines = (tmp_path / "v1.jsonl").read_text().splitlines()
    assert n == len(lines) == 16 and all("messages" in json.loads(line) for line in lines)
    datasets = pytest.importorskip("datasets")
    assert export_hf(store, "v1", tmp_path / "hf") == 16
    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    assert ds.num_rows == 16 and ds[0]["messages"][0]["role"] == "user"
    with pytest.raises(NotFound, match="nope"):
        export_jsonl(store, "nope", tmp_path / "nope.jsonl")
    assert not (tmp_path / "nope.jsonl").exists() and not (tmp_path / "nope.jsonl.part").exists()


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="families"):
        BuildConfig(families=("poetry",))
    with pytest.raises(ConfigError, match="dataset"):
        BuildConfig(dataset="V 1")
    with pytest.raises(ConfigError, match="unknown key"):
        BuildConfig.from_dict({"budgett": 3})


def test_passage_keeps_the_evidence_whole() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(100))
    out = passage(text, "Sentence number 57 is here.", 200)
    assert "Sentence number 57 is here." in out and len(out) <= 200


def test_distractors_are_seeded_draws_that_avoid_true_objects() -> None:
    names = [f"name {i}" for i in range(5000)]

    def fact(i: int) -> RelationFacts:
        return RelationFacts(id=f"rel_{i}", type="causes", subject_id="s", subject="name 0", object_id="o",
                             object="name 1", discipline="d")

    true = {"name 1", "name 2"}
    draws = [_distractors(fact(i), names, true, seed=3) for i in range(300)]
    assert all(len(set(d)) == 3 and not set(d) & (true | {"name 0"}) for d in draws)
    assert draws[7] == _distractors(fact(7), names, true, seed=3)  # the same three on every build
    assert draws[7] != _distractors(fact(7), names, true, seed=4)
    assert len({n for d in draws for n in d}) > 700  # spread over the discipline, not its first names
    # nearly every name banned: the walk over all names still finds the last free ones
    few = names[:40]
    assert sorted(_distractors(fact(1), few, set(few[1:37]), seed=0)) == ["name 37", "name 38", "name 39"]
    # fewer than three free names: what there is (the recall family then skips the relation)
    assert sorted(_distractors(fact(1), few[:3], set(), seed=0)) == ["name 1", "name 2"]
