"""Chain composition: the compatibility table, the path rules, and composed chains in the graph, the
structural check and the Tester (the worlds are described in tests/compose_world.py)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from proda.errors import ConfigError, InputError
from proda.pipelines.check import structural_report
from proda.pipelines.extract.compose import (
    AT_MOST_ONCE,
    EVERY,
    FOLLOWS,
    ComposeConfig,
    DisciplineCompose,
    _forms,
    allowed,
    can_follow,
    compose_chains,
    hub_threshold,
    plan_discipline,
)
from proda.pipelines.tester.build import build_benchmark
from proda.pipelines.tester.config import BenchConfig
from proda.schema.store.base import GraphStore
from proda.schema.vocabulary import default_vocabulary
from tests.compose_world import ComposeWorld, hub_world, line_world, world
from tests.console import proda
from tests.graphs import covers

# --- the compatibility table ------------------------------------------------------------------------------


@pytest.mark.parametrize(("types", "ok"), [
    (["is_a", "is_a"], True),
    (["causes", "increases", "decreases", "prevents"], True),
    (["example_of", "is_a"], True),
    (["example_of", "example_of"], False),
    (["is_a", "defined_as"], True),
    (["causes", "defined_as"], False),  # a gloss after an effect is no argument
    (["increases", "is_a"], False),  # nor is a classification after an effect
    (["defined_as", "causes"], False),
    (["contrasts_with", "causes"], False),  # contrasts are never composed
    (["causes", "contrasts_with"], False),
    (["enables", "increases"], True),
    (["enables", "decreases"], False),  # "allows" then "reduces" reads as the opposite
    (["causes", "part_of"], False),
    (["part_of", "part_of", "is_a"], True),
    (["part_of", "has_part"], False),
    (["has_part", "part_of"], False),
    (["requires", "requires"], True),
    (["increases", "requires"], False),
    (["requires", "enables"], False),
    (["precedes", "follows"], False),
    (["precedes", "precedes", "causes"], False),
    (["used_for", "increases"], True),
    (["is_a", "has_part"], True),  # a kind has its class's parts
    (["example_of", "has_part"], False),  # what a class "includes" after an example is mostly a sibling
    (["measured_by", "is_a"], False),
    (["causes", "regulates"], False),  # a type outside the table is never composed
    ([], False),
])
def test_compatibility_table(types: list[str], ok: bool) -> None:
    assert allowed(types) is ok


def test_the_table_covers_the_default_vocabulary_and_only_names_its_types() -> None:
    names = set(default_vocabulary()) - {"contrasts_with"}  # a contrast is never composed
    assert set(FOLLOWS) == names == set(EVERY)
    assert all(nxt <= names for nxt in FOLLOWS.values())


def test_the_rules_are_prefix_closed() -> None:
    # a path search prunes at the first refusal: no extension of a refused sequence may be allowed
    types = sorted(EVERY)
    for n in (1, 2, 3):
        for seq in itertools.product(types, repeat=n):
            if not allowed(seq):
                assert not any(allowed([*seq, t]) for t in types), seq
    assert all(not can_follow([t], t) for t in AT_MOST_ONCE)


# --- path rules, planned without a graph -----------------------------------------------------------------


def plan(w: ComposeWorld, merged: dict[str, str] | None = None, **cfg: Any) -> tuple[list[list[str]],
                                                                                     DisciplineCompose]:
    """The planned chains as lists of concept names, and the figures."""
    stats = DisciplineCompose(discipline=w.discipline)
    p = plan_discipline(w.discipline, w.inputs(merged), ComposeConfig(**cfg), stats)
    name = {c.id: n for n, c in w.c.items()}
    return [[name[cid] for cid in ch.concept_ids] for ch in p.chains], stats


def test_paths_stay_in_one_document_never_repeat_a_concept_and_follow_the_table() -> None:
    chains, stats = plan(world(), merged={"bonds": "bond"})
    assert chains == [
        # documents in id order; in each, longest first, then same-section first, then text order
        ["price", "supply", "surplus", "market condition"],  # crosses two sections
        ["supply", "surplus", "price"],
        ["surplus", "price", "supply"],
        ["apple", "fruit", "produce"],  # example_of -> is_a; example_of -> example_of (food) is refused
        ["rain", "bonds", "debt"],
        ["debt", "bond", "yield"],
    ]
    # never across documents: market condition -example_of-> pattern is in another document
    assert not any("pattern" in c for c in chains)
    # nothing after defined_as; no merge class twice (bonds ... bond); no cycle back to the start
    assert not any("effect" in c for c in chains)
    assert all(len({n.rstrip("s") for n in c}) == len(c) for c in chains)
    assert stats.by_length == {2: 5, 3: 1} and stats.chains == 6 and stats.documents == 4
    assert stats.merge_junctions == 2  # rain>bonds | bond>yield and debt>bond | bonds>debt
    assert stats.skipped == {"inside_another_chain": 2}  # price>supply>surplus, supply>surplus>market condition
    assert stats.same_section == 3  # apple>fruit>produce and the two in the merged document
    assert stats.relations_covered == 10 and stats.relations == 14


def test_before_a_merge_the_two_names_are_two_concepts() -> None:
    chains, stats = plan(world())
    assert ["rain", "bonds", "debt", "bond", "yield"] in chains  # four steps: longest, blocks its sub-paths
    assert ["rain", "bonds", "debt"] not in chains and stats.merge_junctions == 0


def test_steps_are_bounded_by_max_steps_and_at_least_two() -> None:
    chains, stats = plan(line_world(7))
    assert len(chains[0]) == 6  # 5 steps, the default maximum
    assert all(" ".join(c) in " ".join(f"c{i}" for i in range(8)) for c in chains)  # sub-paths of the line
    assert max(stats.by_length) == 5 and min(stats.by_length) >= 2
    chains, stats = plan(line_world(7), max_steps=3)
    assert max(stats.by_length) == 3
    assert plan(line_world(1))[0] == []  # one relation: nothing to compose


def test_a_hub_starts_or_ends_chains_but_never_sits_inside_one() -> None:
    chains, stats = plan(hub_world())
    assert stats.hubs == 1 and stats.hub_threshold == 20  # degree 24; the 99th percentile is lower than the floor
    assert all("hub" not in c[1:-1] for c in chains)
    assert ["x", "in0", "hub"] in chains and ["hub", "out0", "y"] in chains and ["a", "b", "c"] in chains
    assert stats.hub_blocks == 13  # every path that reached the hub and could have gone on
    # with a higher floor the hub is an ordinary concept and paths run through it
    through, stats = plan(hub_world(), hub_min_degree=30)
    assert stats.hubs == 0 and any(c[1:-1] == ["hub"] for c in through)


def test_hub_threshold_is_a_percentile_with_a_floor() -> None:
    assert hub_threshold([1] * 99 + [100], 99.0, 5) == 5  # the percentile (1.99) is under the floor
    assert hub_threshold(range(1, 101), 90.0, 5) == pytest.approx(90.1)
    assert hub_threshold([], 99.0, 7) == 7


def test_caps_and_extracted_chains_limit_what_is_selected() -> None:
    chains, stats = plan(world(), merged={"bonds": "bond"}, max_per_document=1)
    assert len(chains) == 3 and stats.skipped["max_per_document"] >= 1
    chains, stats = plan(world(), merged={"bonds": "bond"}, max_chains_per_relation=1)
    assert ["supply", "surplus", "price"] not in chains and stats.skipped["max_chains_per_relation"] >= 1
    w = world()
    w.extracted("stated", ["apple", "fruit", "produce"])
    chains, stats = plan(w, merged={"bonds": "bond"})
    assert ["apple", "fruit", "produce"] not in chains and stats.skipped["inside_another_chain"] == 3


def test_planning_is_deterministic() -> None:
    w = world()
    a = plan_discipline(w.discipline, w.inputs({"bonds": "bond"}), ComposeConfig(), DisciplineCompose("economics"))
    b = plan_discipline(w.discipline, w.inputs({"bonds": "bond"}), ComposeConfig(), DisciplineCompose("economics"))
    assert [c.id for c in a.chains] == [c.id for c in b.chains]


def test_config_is_validated() -> None:
    for bad in ({"max_steps": 1}, {"max_steps": 7}, {"scope": "chapter"}, {"max_per_start": 0},
                {"hub_percentile": 101.0}):
        with pytest.raises(ConfigError):
            ComposeConfig(**bad)
    with pytest.raises(ConfigError, match="unknown key"):
        ComposeConfig.from_dict({"max_hops": 3})


def test_section_scope_keeps_paths_inside_one_section() -> None:
    chains, _ = plan(world(), merged={"bonds": "bond"}, scope="section")
    assert chains == [["price", "supply", "surplus"], ["apple", "fruit", "produce"], ["rain", "bonds", "debt"],
                      ["debt", "bond", "yield"]]


# --- in the graph ---------------------------------------------------------------------------------------


def composed_rows(store: GraphStore) -> dict[str, dict[str, Any]]:
    rows = store.run("MATCH (ch:Chain {origin: 'composed'}) OPTIONAL MATCH (ch)-[:FROM_CHUNK]->(k:Chunk) "
                     "RETURN ch.id AS id, ch.relation_ids AS rids, ch.extractor AS extractor, "
                     "ch.prompt_version AS pv, ch.length AS length, collect(k.id) AS chunks")
    return {r["id"]: r for r in rows}


def test_composed_chains_are_written_with_origin_and_pass_the_structural_check(store: GraphStore) -> None:
    covers("compose_relations", "compose_chains", "compose_chain_lengths", "link_chain_chunks")
    w = world()
    w.extracted("stated", ["apple", "fruit", "produce"])
    w.load(store)
    w.merge_bonds(store)
    # small pages: paging must not lose rows
    report = compose_chains(store, ComposeConfig(page_size=3, junction_words=0))
    [d] = report.disciplines
    assert (d.chains, d.written, d.unresolved, d.by_length) == (5, 5, 0, {2: 4, 3: 1})
    rows = composed_rows(store)
    assert len(rows) == 5 and {(r["extractor"], r["pv"]) for r in rows.values()} == {("compose", "compose-v3")}
    chunk_of = {r.id: r.chunk_id for r in w.r.values()}
    for r in rows.values():  # linked to the chunk of every step
        assert sorted(r["chunks"]) == sorted({chunk_of[x] for x in r["rids"]})
    check = structural_report(store)
    [econ] = check.disciplines
    assert econ.broken_chains == 0 and econ.chains == 6
    assert econ.chains_by_origin == {"composed": 5, "extracted": 1}
    assert econ.chain_lengths == {"composed": {2: 4, 3: 1}, "extracted": {2: 1}}
    assert check.total().chains_by_origin == econ.chains_by_origin
    assert check == structural_report(store, rescan=True)


def test_composing_again_gives_the_same_chains_and_removes_stale_ones(store: GraphStore) -> None:
    covers("compose_delete_chains")
    w = world().load(store)
    first = compose_chains(store, ComposeConfig(junction_words=0)).disciplines[0]
    before = composed_rows(store)
    long_id = next(i for i, r in before.items() if r["length"] == 4)  # rain>bonds>debt>bond>yield
    again = compose_chains(store, ComposeConfig(junction_words=0)).disciplines[0]
    assert composed_rows(store) == before and (again.chains, again.removed) == (first.chains, 0)
    # a merge makes bonds ... bond one concept twice: that chain no longer applies and goes
    w.merge_bonds(store)
    after = compose_chains(store, ComposeConfig(junction_words=0)).disciplines[0]
    now = composed_rows(store)
    assert long_id not in now and after.removed == 1 and len(now) == 6
    assert store.run("MATCH (ch:Chain {id: $id}) RETURN count(ch) AS n", {"id": long_id})[0]["n"] == 0
    # a composed chain that a benchmark item tests is kept when it no longer applies
    victim = next(i for i, r in now.items() if r["length"] == 3)
    store.run("MATCH (ch:Chain {id: $id}) CREATE (:BenchmarkItem {id: 'item-x'})-[:TESTS]->(ch)", {"id": victim},
              read_only=False)
    kept = compose_chains(store, ComposeConfig(max_steps=2, junction_words=0)).disciplines[0]
    assert kept.kept_referenced == 1 and victim in composed_rows(store)
    assert structural_report(store).disciplines[0].broken_chains == 0


def test_a_dry_run_writes_nothing(store: GraphStore) -> None:
    world().load(store)
    report = compose_chains(store, ComposeConfig(junction_words=0), dry_run=True)
    assert report.dry_run and report.chains == 5 and composed_rows(store) == {}


def test_an_unknown_discipline_is_a_clear_error(store: GraphStore) -> None:
    world().load(store)
    with pytest.raises(InputError, match="'biology' has no L2 relations"):
        compose_chains(store, ComposeConfig(discipline="biology"))


def test_the_tester_counts_chains_and_items_per_origin(store: GraphStore) -> None:
    covers("bench_candidate_chains")
    w = world()
    w.extracted("stated", ["apple", "fruit", "produce"])
    w.load(store)
    w.merge_bonds(store)
    compose_chains(store, ComposeConfig(junction_words=0))
    # almost every chain held out, one distractor per item: TRUNC (an intermediate concept) always has one
    report = build_benchmark(store, BenchConfig(test_ratio=0.5, dev_ratio=0.49, distractors=1))
    [shard] = report.shards
    assert sum(shard.held_out_by_origin.values()) == shard.held_out_chains
    assert shard.held_out_by_origin.get("composed", 0) >= 4
    assert sum(shard.items_by_origin.values()) == shard.items
    assert report.items_by_origin()["composed"] >= 4
    assert "edges_missing" not in shard.skipped and "answer_unreachable" not in shard.skipped


def test_cli_composes_reports_and_teaches(running_home: Path, cli_graph: str, tmp_path: Path) -> None:
    w = world()
    jsonl = tmp_path / "world.jsonl"
    jsonl.write_text("".join(e.model_dump_json() + "\n" for e in w.elements))
    assert proda("load", str(jsonl), home=running_home, graph=cli_graph).returncode == 0
    dry = proda("compose", "--dry-run", "--json", "--junction-words", "0", home=running_home, graph=cli_graph)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["dry_run"] is True
    done = proda("compose", "--max-steps", "3", "--junction-words", "0", home=running_home, graph=cli_graph)
    assert done.returncode == 0, done.stderr
    assert "composed" in done.stdout and "economics" in done.stdout
    check = json.loads(proda("check", "--json", home=running_home, graph=cli_graph).stdout)
    econ = check["disciplines"][0]
    assert econ["chains_by_origin"]["composed"] == sum(econ["chain_lengths"]["composed"].values()) > 0
    assert max(int(k) for k in econ["chain_lengths"]["composed"]) == 3
    assert econ["hubs"] is None  # the hub-free components are asked for
    hubs = json.loads(proda("check", "--json", "--hubs", home=running_home, graph=cli_graph).stdout)
    assert hubs["disciplines"][0]["hubs"] is not None
    assert hubs["disciplines"][0]["giant_component_share_without_hubs"] is not None
    refused = proda("check", "--hubs", "--remote", "grpc://127.0.0.1:9", home=running_home, graph=cli_graph)
    assert refused.returncode != 0 and "--hubs runs on this machine only" in refused.stderr
    helped = proda("compose", "--help", home=running_home)
    assert "defined_as only as the last step" in helped.stdout and "--max-steps" in helped.stdout


def test_a_one_word_junction_joins_steps_of_one_chunk_only() -> None:
    # "supply" is one word: price -> supply (chunk 0) -> surplus (chunk 1) is refused, while the one-chunk
    # path through it is kept
    w = world()
    inputs = w.inputs({"bonds": "bond"})
    inputs.words = {w.c[n].id: 1 for n in ("supply", "surplus", "price")}
    stats = DisciplineCompose(discipline=w.discipline)
    p = plan_discipline(w.discipline, inputs, ComposeConfig(), stats)
    name = {c.id: n for n, c in w.c.items()}
    chains = [[name[cid] for cid in ch.concept_ids] for ch in p.chains]
    assert not any(c[:3] == ["price", "supply", "surplus"] for c in chains)
    assert ["debt", "bond", "yield"] in chains and stats.one_word_blocks > 0


def test_a_junction_is_named_in_both_sentences_it_joins() -> None:
    # "These include ...": the second sentence names no supply, so the pronoun's guess joins nothing
    w = world()
    w.r["supply>surplus"].evidence = "These cause a surplus."
    inputs = w.inputs({"bonds": "bond"})
    stats = DisciplineCompose(discipline=w.discipline)
    p = plan_discipline(w.discipline, inputs, ComposeConfig(), stats)
    name = {c.id: n for n, c in w.c.items()}
    chains = [[name[cid] for cid in ch.concept_ids] for ch in p.chains]
    assert not any("supply" in c[1:-1] for c in chains) and stats.unnamed_blocks > 0
    assert ["surplus", "price", "supply"] in chains  # supply ends it: only junctions must be named
    # a plural, or a gerund stated as its verb, names the concept
    w.r["supply>surplus"].evidence = "Supplies cause surpluses."
    assert _forms("producing") & _forms("produce") and _forms("surpluses") & _forms("surplus")
    again = plan_discipline(w.discipline, w.inputs({"bonds": "bond"}), ComposeConfig(),
                            DisciplineCompose(discipline=w.discipline))
    assert len(again.chains) == 6
    # --any-junctions turns the rule off
    off = DisciplineCompose(discipline=w.discipline)
    plan_discipline(w.discipline, inputs, ComposeConfig(named_junctions=False), off)
    assert off.unnamed_blocks == 0 and off.chains == 6
