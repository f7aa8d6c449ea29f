"""``build_benchmark`` on hand-built graphs: whole items, proven distractors, counted skips, batched queries."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from proda.errors import InputError
from proda.pipelines.tester import distractors
from proda.pipelines.tester.build import ShardBuilder, build_benchmark, write_items
from proda.pipelines.tester.chains import read_chains
from proda.pipelines.tester.config import BenchConfig
from proda.pipelines.tester.model import BenchmarkItemRecord, instance_hash, item_id
from proda.schema import Chain, Relation
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter
from tests.graphs import HAND, covers
from tests.tester_world import economics, load_economics, merge


def items(store: GraphStore) -> dict[str, BenchmarkItemRecord]:
    rows = store.query("bench_items", {})
    return {r["chain_id"]: BenchmarkItemRecord.model_validate_json(r["record"]) for r in rows}


def test_build_writes_one_whole_item_per_usable_chain(store: GraphStore) -> None:
    covers("bench_candidate_chains", "bench_upsert_items", "bench_items")
    w = load_economics(store)
    report = build_benchmark(store, BenchConfig())
    [shard] = report.shards
    assert (report.items, shard.held_out_chains, shard.considered) == (1, 4, 4)
    # C (one step, nothing around), D (no inverse, one TRUNC), E (symmetric, one step) cannot give 3 distractors
    assert shard.skipped == {"too_few_distractors": 3}
    assert any(w.chains["D"].id in m and "INVREL 0, TRUNC 1" in m for m in shard.examples["too_few_distractors"])
    a = w.chains["A"]
    rec = items(store)[a.id]
    assert rec.id == item_id("proda", a.id) and rec.split == "test" and rec.discipline == "economics"
    assert rec.question == "In economics: price increases X1 and X1 causes X2. Which concept is X2?"
    assert rec.answer == "surplus" and rec.choices[rec.answer_index] == "surplus"
    by_text = {o.text: o for o in rec.options}
    assert set(by_text) == {"surplus", "inflation", "supply", "trade"}
    assert {t: (o.operator, o.kind) for t, o in by_text.items()} == {
        "surplus": ("ANSWER", "answer"), "inflation": ("INVREL", "invrel"), "supply": ("TRUNC", "trunc"),
        "trade": ("NEARMISS", "sibling_chain")}
    assert by_text["inflation"].via == [w.r["price>supply"].id, w.r["supply>inflation"].id]
    assert by_text["surplus"].via == a.relation_ids
    assert rec.qa_hash == instance_hash(rec.question, "surplus")
    assert shard.operators == {"INVREL": 1, "TRUNC": 1, "NEARMISS": 1}
    # the graph holds the item, its chain link and one OPTION edge per option, flagged like the record
    rows = store.run("MATCH (i:BenchmarkItem)-[:TESTS]->(ch:Chain) MATCH (i)-[o:OPTION]->(c:Concept) "
                     "RETURN ch.id AS chain, o.index AS idx, o.correct AS correct, o.operator AS op, c.id AS concept")
    assert {r["chain"] for r in rows} == {a.id}
    assert sorted((r["idx"], r["correct"], r["op"], r["concept"]) for r in rows) == [
        (o.index, o.correct, o.operator, o.concept_id) for o in rec.options]


def test_every_valid_candidate_and_every_rejection_by_reason(store: GraphStore) -> None:
    w = load_economics(store)
    builder = ShardBuilder(store, BenchConfig(distractors=8))
    stats = builder.run("economics")
    rec = items(store)[w.chains["A"].id]
    assert {o.text for o in rec.distractors} == {"inflation", "shortage", "supply", "trade", "equilibrium",
                                                 "production", "storage cost", "market condition"}
    store.run("MATCH (i:BenchmarkItem) DETACH DELETE i", read_only=False)
    stats = ShardBuilder(store, BenchConfig(distractors=9)).run("economics")  # too many: every candidate is tried
    assert stats.items == 0 and stats.skipped == {"too_few_distractors": 4}
    assert stats.rejected_candidates == {
        "is_answer": 1,  # excess supply, merged into surplus (INVREL)
        "reachable": 1,  # glut: supply -causes-> glut makes it a correct answer
        "answer_alias": 1,  # oversupply, whose alias is "Surplus"
        "same_concept": 2,  # trade and inflation, found again by NEARMISS alt_ending
        "restates_answer": 1,  # product, TRUNC's stop on chain D, which its answer "offering" defines
    }


def test_rebuilding_updates_the_same_items(store: GraphStore) -> None:
    load_economics(store)
    build_benchmark(store, BenchConfig(seed=7))
    first = items(store)
    counts = store.run("MATCH (i:BenchmarkItem) OPTIONAL MATCH (i)-[o:OPTION]->() RETURN count(DISTINCT i) AS i, "
                       "count(o) AS o")
    build_benchmark(store, BenchConfig(seed=7))
    assert items(store) == first
    assert store.run("MATCH (i:BenchmarkItem) OPTIONAL MATCH (i)-[o:OPTION]->() RETURN count(DISTINCT i) AS i, "
                     "count(o) AS o") == counts == [{"i": 1, "o": 4}]
    build_benchmark(store, BenchConfig(seed=8))  # another seed: same item node, options re-shuffled
    again = items(store)
    assert {k: v.id for k, v in again.items()} == {k: v.id for k, v in first.items()}
    assert store.run("MATCH (i:BenchmarkItem)-[o:OPTION]->() RETURN count(o) AS o") == [{"o": 4}]


def _counting(store: GraphStore) -> Counter[str]:
    calls: Counter[str] = Counter()
    original = store.query

    def query(name: str, params: Any = None, **kw: Any) -> Any:
        calls[name] += 1
        return original(name, params, **kw)

    store.query = query  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("batch_size", [1, 1000])
def test_both_batch_strategies_build_the_same_items(store: GraphStore, batch_size: int) -> None:
    for i in range(3):
        economics(suffix=f"_{i}").load(store)
    built = {}
    for strategy in ("serial", "overlapped"):
        store.run("MATCH (i:BenchmarkItem) DETACH DELETE i", read_only=False)
        report = build_benchmark(store, BenchConfig(batch_size=batch_size, batch_strategy=strategy))
        [shard] = report.shards
        built[strategy] = (items(store), shard.skipped, shard.examples, shard.operators,
                           shard.rejected_candidates, shard.notes, shard.considered)
    assert built["overlapped"] == built["serial"] and len(built["serial"][0]) == 3


def test_round_trips_do_not_grow_with_the_number_of_chains(falkordb_store: GraphStore) -> None:
    one = economics(suffix="_0").load(falkordb_store)
    calls = _counting(falkordb_store)
    build_benchmark(falkordb_store, BenchConfig(name="one"))
    single = dict(calls)
    for i in range(1, 30):
        economics(suffix=f"_{i}").load(falkordb_store)
    calls.clear()
    report = build_benchmark(falkordb_store, BenchConfig(name="many"))
    assert dict(calls) == single  # 30 times the chains, the same round trips
    assert report.items == 30 and one.chains["A"].id in items(falkordb_store)


def test_per_discipline_takes_a_seeded_sample_and_reports_a_shortfall(falkordb_store: GraphStore) -> None:
    for i in range(5):
        economics(suffix=f"_{i}").load(falkordb_store)
    report = build_benchmark(falkordb_store, BenchConfig(per_discipline=2, seed=1))
    assert report.items == 2 and report.shards[0].shortfall is None
    chosen = set(items(falkordb_store))
    falkordb_store.run("MATCH (i:BenchmarkItem) DETACH DELETE i", read_only=False)
    build_benchmark(falkordb_store, BenchConfig(per_discipline=2, seed=1))
    assert set(items(falkordb_store)) == chosen  # the same seed picks the same chains
    short = build_benchmark(falkordb_store, BenchConfig(name="big", per_discipline=9))
    assert short.items == 5
    assert short.shards[0].shortfall == ("discipline 'economics': asked for 9 items, built 5 from 20 test/dev chains "
                                         "(15 skipped)")


def test_a_chain_whose_edge_was_deleted_is_skipped_naming_it(store: GraphStore) -> None:
    w = load_economics(store)
    store.run("MATCH ()-[r:RELATION {id: $id}]->() DELETE r", {"id": w.r["supply>surplus"].id}, read_only=False)
    [shard] = build_benchmark(store, BenchConfig()).shards
    assert shard.items == 0 and shard.skipped["edges_missing"] == 1
    [message] = shard.examples["edges_missing"]
    assert w.chains["A"].id in message and "step(s) [1] no longer exist" in message
    assert store.run("MATCH (i:BenchmarkItem) RETURN count(i) AS n") == [{"n": 0}]


def test_a_relation_type_outside_the_vocabulary_is_skipped_naming_it(store: GraphStore) -> None:
    w = load_economics(store)
    odd = Relation(type="regulates", subject_id=w.c["surplus"].id, object_id=w.c["trade"].id,
                   discipline="economics", provenance=HAND)
    base = w.chains["A"]
    chain = Chain(discipline="economics", relation_ids=[*base.relation_ids, odd.id],
                  concept_ids=[*base.concept_ids, w.c["trade"].id], split="test", provenance=HAND)
    GraphWriter(store).write([odd, chain])
    [shard] = build_benchmark(store, BenchConfig()).shards
    assert shard.skipped["unknown_relation_type"] == 1
    assert "['regulates'] are not in the vocabulary" in shard.examples["unknown_relation_type"][0]
    assert chain.id not in items(store) and base.id in items(store)


def test_an_unknown_discipline_is_a_clear_error(store: GraphStore) -> None:
    load_economics(store)
    with pytest.raises(InputError, match="discipline 'physics' has no L3 chains in the graph; disciplines with "
                                         "chains: economics"):
        build_benchmark(store, BenchConfig(discipline="physics"))


def test_an_item_is_written_whole_or_not_at_all(store: GraphStore) -> None:
    w = load_economics(store)
    a = w.chains["A"]
    builder = ShardBuilder(store, BenchConfig())
    view = read_chains(store, [a.id])[a.id]
    cands = distractors.trunc(store, [view])[a.id] + distractors.nearmiss(store, [view], 5)[a.id]
    rec = builder.item(view, [c for c in cands if c.concept.name in ("supply", "trade", "equilibrium")])
    store.run("MATCH (c:Concept {id: $id}) DETACH DELETE c", {"id": w.c["equilibrium"].id}, read_only=False)
    assert write_items(store, [rec]) == 0
    assert store.run("MATCH (i:BenchmarkItem) RETURN count(i) AS n") == [{"n": 0}]
    assert store.run("MATCH ()-[o:OPTION]->() RETURN count(o) AS n") == [{"n": 0}]


def test_merging_a_distractor_into_the_answer_removes_it_from_the_next_build(store: GraphStore) -> None:
    w = load_economics(store)
    merge(store, w.c["trade"], w.c["surplus"])  # trade is now an alias of the answer
    build_benchmark(store, BenchConfig())
    rec = items(store)[w.chains["A"].id]
    assert "trade" not in rec.choices and len(rec.choices) == 4


def test_a_chain_that_ends_where_it_starts_is_skipped(store: GraphStore) -> None:
    w = economics()
    w.rel("surplus", "decreases", "price")
    w.chain("loop", ["price", "supply", "surplus", "price"])
    w.load(store)
    [shard] = build_benchmark(store, BenchConfig()).shards
    assert shard.skipped["answer_is_start"] == 1
    assert w.chains["loop"].id in shard.examples["answer_is_start"][0]
    assert w.chains["loop"].id not in items(store)


def test_peers_fill_only_the_chains_short_of_distractors(store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chain with one structural candidate (INVREL: tax decreases demand) gets its second distractor from the
    answer's document (a peer); a chain that has enough without them is never even asked about, and
    --no-peers skips the first."""
    from tests.test_tester_operators import _document_world

    _, chain = _document_world(store)
    w = load_economics(store)
    asked: list[str] = []
    real = distractors.peers

    def spy(st: GraphStore, chains: Any, limit: int) -> Any:
        asked.extend(c.id for c in chains)
        return real(st, chains, limit)

    monkeypatch.setattr(distractors, "peers", spy)
    build_benchmark(store, BenchConfig(distractors=2))
    rec = items(store)[chain.id]
    wrong = {(o.text, o.kind) for o in rec.options if not o.correct}
    assert ("demand", "invrel") in wrong and len(wrong & {("output", "peer"), ("sales", "peer")}) == 1
    assert chain.id in asked and w.chains["A"].id not in asked  # A has INVREL, TRUNC and structural near misses
    assert w.chains["A"].id in items(store)
    store.query("bench_delete_items", {"benchmark": "proda"})
    report = build_benchmark(store, BenchConfig(distractors=2, peers=False))
    assert chain.id not in items(store) and report.shards
