"""Entity resolution on a real FalkorDB: candidates, merges, the alias table, the audit and undo."""

from __future__ import annotations

from typing import Any

import pytest
from rapidfuzz import fuzz

from proda.errors import InputError, NotFound
from proda.pipelines.extract.resolve import (
    AliasTable,
    Candidate,
    find_candidates,
    list_merges,
    merge,
    undo_merge,
)
from proda.pipelines.extract.resolve_candidates import fuzzy_blocked, plan_candidates, spelled_variants
from proda.schema import Concept, Relation
from proda.schema.ids import concept_id
from proda.schema.store.base import GraphStore
from proda.schema.store.components import components_from_edges
from proda.schema.store.writer import Element, GraphWriter, match_key
from tests.graphs import HAND, covers, load_toy

ECON = "economics"


def concepts(*names: str, discipline: str = ECON) -> dict[str, Concept]:
    return {n: Concept(name=n, discipline=discipline, provenance=HAND) for n in names}


def rel(s: Concept, o: Concept, rel_type: str = "causes") -> Relation:
    return Relation(type=rel_type, subject_id=s.id, object_id=o.id, discipline=s.discipline, provenance=HAND)


def write(store: GraphStore, *elements: Element) -> None:
    GraphWriter(store).write(elements)


def pairs(cands: list[Candidate]) -> set[tuple[str, str, str]]:
    return {(c.canonical_name, c.duplicate_name, c.method) for c in cands}


def snapshot(store: GraphStore) -> dict[str, Any]:
    """Every concept's properties and the graph's edge counts per type: what a merge may touch."""
    nodes = store.run("MATCH (c:Concept) RETURN c.id AS id, properties(c) AS p")
    edges = store.run("MATCH ()-[r]->() RETURN type(r) AS t, count(r) AS n")
    for row in nodes:  # list order inside a property is part of the snapshot; key order is not
        row["p"] = dict(sorted(row["p"].items()))
    return {"concepts": {r["id"]: r["p"] for r in nodes}, "edges": {r["t"]: r["n"] for r in edges},
            "merges": store.run("MATCH (m:Merge) RETURN count(m) AS n")[0]["n"]}


def test_plural_case_and_alias_duplicates_are_found(falkordb_store: GraphStore) -> None:
    c = concepts("supply curve", "demand curve", "Demand Curves", "aid", "GDP", "marginal cost")
    legacy = Concept(id="con_legacy_supply", name="Supply  Curve", discipline=ECON)  # an id from an older load
    gdp = Concept(name="gross domestic product", discipline=ECON, aliases=["GDP"])
    aids = Concept(name="AIDS", discipline=ECON)
    write(falkordb_store, *c.values(), legacy, gdp, aids)
    found = find_candidates(falkordb_store, ECON)
    by_pair = {frozenset((x.canonical_id, x.duplicate_id)): (x.method, x.score) for x in found}
    assert by_pair == {
        frozenset((c["supply curve"].id, legacy.id)): ("exact", 100.0),
        frozenset((c["demand curve"].id, c["Demand Curves"].id)): ("match_key", 100.0),
        frozenset((c["GDP"].id, gdp.id)): ("exact", 100.0),  # an acronym joins only through an alias
    }
    assert all(x.discipline == ECON for x in found)
    # the naive singular would turn "AIDS" into "aid": acronyms never match by key
    assert not any(aids.id in (x.canonical_id, x.duplicate_id) for x in found)


def test_fuzzy_duplicates_above_the_threshold_only(falkordb_store: GraphStore) -> None:
    c = concepts("labour market", "labor market", "opportunity cost", "oportunity cost",
                 "monetary policy", "fiscal policy",
                 "phase 1 trial", "phase 2 trial",  # 92.3, but differ only by a number
                 "type a personality", "type b personality",  # 94.4, but differ only by a letter
                 "intracellular fluid", "intercellular fluid")  # 94.7, contrasting prefixes
    write(falkordb_store, *c.values())
    found = find_candidates(falkordb_store, ECON, threshold=92.0)
    scores = {frozenset((x.canonical_name, x.duplicate_name)): (x.method, x.score) for x in found}
    assert scores == {frozenset(("labour market", "labor market")): ("fuzzy", 96.0),
                      frozenset(("opportunity cost", "oportunity cost")): ("fuzzy", 96.77)}
    assert [x.duplicate_name for x in find_candidates(falkordb_store, ECON, threshold=96.5)] == ["opportunity cost"]
    assert find_candidates(falkordb_store, ECON, threshold=97.0) == []
    with pytest.raises(InputError, match="threshold"):
        find_candidates(falkordb_store, ECON, threshold=0)


def test_fuzzy_guards() -> None:
    assert fuzzy_blocked("female reproductive system", "male reproductive system")
    assert fuzzy_blocked("vitamin b12", "vitamin b6")
    assert fuzzy_blocked("world war i", "world war ii")
    assert not fuzzy_blocked("labour market", "labor market")
    assert not fuzzy_blocked("curve supply", "supply curve")


def test_fuzzy_pairs_differ_by_spelling_only() -> None:
    # the first group is one concept written two ways; the second names two concepts, most of them at a
    # token ratio above the default threshold (92), where only this rule tells them apart
    same = [("labour market", "labor market"), ("opportunity cost", "oportunity cost"),
            ("skeptical hypothesis", "skeptical hypotheses"), ("city centre", "city center"),
            ("organisational behaviour", "organizational behavior"), ("judgement call", "judgment call"),
            ("exchange rate for U.S. dollars", "exchange rate of U.S. dollar"), ("atomic nuclei", "atomic nucleus"),
            ("making decisions", "decision-making"), ("health care costs", "healthcare costs"),
            ("formation of each crystal", "formation of crystals"),
            ("firm that can set prices", "firm that sets prices"),
            ("calculating rate of return", "calculation of rate of return"),
            ("coefficient of static friction", "static coefficient of friction"),
            ("import and export prices", "export and import prices")]
    other = [("mood that is good", "mood that is bad"), ("music theorists", "music theory"),
             ("neoclassical economists", "neoclassical economics"), ("price of food", "price of goods"),
             ("pessimistic view of human nature", "optimistic view of human nature"),
             ("planet orbit", "plane orbit"), ("model selection", "modal selection"), ("wage rate", "wage race"),
             ("gland secretions", "gland secretin"), ("body cells", "cell body"), ("pressure gauges", "gauge pressure"),
             ("force of hammer on nail", "force of nail on hammer"), ("suppliers of capital", "supply of capital")]
    assert [a for a, b in same if not spelled_variants(a, b)] == []
    assert [a for a, b in other if spelled_variants(a, b)] == []
    rows = [{"id": f"{side}{i}", "name": name, "documents": ["doc"], "degree": 2 if side == "a" else 1}
            for i, pair in enumerate([*same, *other]) for side, name in zip("ab", pair, strict=True)]
    found = {(c.canonical_name, c.duplicate_name) for c in plan_candidates(rows, ECON) if c.method == "fuzzy"}
    assert found == {
        ("labour market", "labor market"), ("opportunity cost", "oportunity cost"),
        ("skeptical hypothesis", "skeptical hypotheses"), ("organisational behaviour", "organizational behavior"),
        ("judgement call", "judgment call"), ("exchange rate for U.S. dollars", "exchange rate of U.S. dollar"),
        ("making decisions", "decision-making"), ("coefficient of static friction", "static coefficient of friction"),
        ("import and export prices", "export and import prices")}
    # without the rule, most of the others would have merged: their keys score at or above the threshold and
    # the earlier string guards let them through
    keys = [(" ".join(sorted(match_key(a).split())), " ".join(sorted(match_key(b).split()))) for a, b in other]
    assert sum(fuzz.ratio(a, b) >= 92 and not fuzzy_blocked(a, b) for a, b in keys) >= 8


def test_disciplines_are_never_merged(falkordb_store: GraphStore) -> None:
    econ = concepts("supply curve", "labour market")
    bio = concepts("supply curves", "labor market", discipline="biology")
    write(falkordb_store, *econ.values(), *bio.values())
    assert find_candidates(falkordb_store, ECON) == []
    assert find_candidates(falkordb_store, "biology") == []
    cross = Candidate(econ["supply curve"].id, bio["supply curves"].id, "match_key", 100.0)
    with pytest.raises(InputError, match="different disciplines"):
        merge(falkordb_store, [cross])
    assert list_merges(falkordb_store) == []


def test_canonical_is_the_better_connected_concept(falkordb_store: GraphStore) -> None:
    c = concepts("supply curve", "supply curves", "price", "quantity", "wage rate", "wage rates")
    write(falkordb_store, *c.values(), rel(c["price"], c["supply curves"]), rel(c["supply curves"], c["quantity"]))
    found = {x.duplicate_name: x.canonical_name for x in find_candidates(falkordb_store, ECON)}
    # more relations beats the shorter name; with equal connections the shorter name wins
    assert found == {"supply curve": "supply curves", "wage rates": "wage rate"}


def test_merge_alias_table_audit_and_undo(store: GraphStore) -> None:
    """Conformance of the resolution queries on every backend."""
    covers("merge_candidates_input", "merge_preview", "apply_merges", "concept_aliases", "merges", "undo_merge")
    t = load_toy(store)
    [cand] = find_candidates(store, ECON)
    assert (cand.canonical_id, cand.duplicate_id, cand.method) == (
        t.c["supply curve"].id, t.c["supply curves"].id, "match_key")
    [rec] = merge(store, [cand])
    assert (rec.method, rec.score, rec.added_aliases, rec.undone) == ("match_key", 100.0, ("supply curves",), False)

    table = AliasTable.load(store, ECON)
    assert table.resolve("Supply Curves", ECON) == "supply curve"
    assert table.resolve("supply  curves", ECON) == "supply curve"
    assert table.resolve("price", ECON) == "price"
    assert table.resolve("Supply Curves", "biology") == "Supply Curves"
    assert concept_id(table.resolve("Supply Curves", ECON), ECON) == t.c["supply curve"].id

    [listed] = list_merges(store, ECON)
    assert listed == rec
    assert list_merges(store, "biology") == []

    undone = undo_merge(store, rec.id)
    assert undone.undone and undone.undone_at
    assert list_merges(store, ECON) == []
    [audit] = list_merges(store, ECON, include_undone=True)
    assert audit.undone and audit.id == rec.id and audit.added_aliases == ("supply curves",)
    # the duplicate is a concept of its own again: its name resolves to itself, as spelled
    restored = AliasTable.load(store, ECON).resolve("Supply Curves", ECON)
    assert restored == "Supply Curves" and concept_id(restored, ECON) == t.c["supply curves"].id


def test_merge_joins_components_and_undo_splits_them(falkordb_store: GraphStore) -> None:
    load_toy(falkordb_store)
    [before] = falkordb_store.components(ECON)
    [rec] = merge(falkordb_store, find_candidates(falkordb_store, ECON))
    [after] = falkordb_store.components(ECON)
    assert (before.components, after.components) == (4, 3)
    [fallback] = components_from_edges(falkordb_store.query("component_edges", {"discipline": ECON}), "test")
    assert fallback.components == 3
    undo_merge(falkordb_store, rec.id)
    assert falkordb_store.components(ECON)[0].components == 4


def test_undo_restores_the_graph_exactly(falkordb_store: GraphStore) -> None:
    c = concepts("price", "quantity")
    canonical = Concept(name="supply curve", discipline=ECON, aliases=["S-curve"], provenance=HAND)
    duplicate = Concept(name="Supply Curves", discipline=ECON, aliases=["supply schedules", "s-curve"])
    write(falkordb_store, *c.values(), canonical, duplicate, rel(c["price"], canonical), rel(duplicate, c["quantity"]))
    before = snapshot(falkordb_store)

    [cand] = find_candidates(falkordb_store, ECON)  # equal degree: the shorter name is canonical
    assert (cand.canonical_id, cand.duplicate_id) == (canonical.id, duplicate.id)
    [rec] = merge(falkordb_store, [cand])
    assert rec.added_aliases == ("Supply Curves", "supply schedules")  # "s-curve" was already known
    merged = snapshot(falkordb_store)
    assert merged["concepts"][canonical.id]["aliases"] == ["S-curve", "Supply Curves", "supply schedules"]
    assert merged["concepts"][duplicate.id]["merged_into"] == canonical.id
    assert merged["edges"]["SAME_AS"] == 1 and merged["edges"]["RELATION"] == 2
    assert AliasTable.load(falkordb_store, ECON).resolve("Supply Schedule", ECON) == "supply curve"

    undo_merge(falkordb_store, rec.id)
    after = snapshot(falkordb_store)
    assert after["concepts"] == before["concepts"]
    assert {k: v for k, v in after["edges"].items() if k not in ("MERGED", "INTO")} == before["edges"]
    assert after["merges"] == 1  # kept for audit
    [audit] = list_merges(falkordb_store, include_undone=True)
    assert audit.undone
    again = undo_merge(falkordb_store, rec.id)  # idempotent
    assert again == audit
    assert snapshot(falkordb_store) == after


def test_undo_of_an_unknown_merge_is_not_found(falkordb_store: GraphStore) -> None:
    with pytest.raises(NotFound, match="mrg_nope"):
        undo_merge(falkordb_store, "mrg_nope")


def test_dry_run_writes_nothing(falkordb_store: GraphStore) -> None:
    t = load_toy(falkordb_store)
    before = snapshot(falkordb_store)
    [rec] = merge(falkordb_store, find_candidates(falkordb_store, ECON), dry_run=True)
    assert (rec.duplicate_id, rec.canonical_id, rec.added_aliases) == (
        t.c["supply curves"].id, t.c["supply curve"].id, ("supply curves",))
    assert snapshot(falkordb_store) == before
    assert list_merges(falkordb_store, include_undone=True) == []


def test_find_and_merge_twice_is_idempotent(falkordb_store: GraphStore) -> None:
    c = concepts("demand curve", "demand curves", "Demand-Curve", "labour market", "labor market")
    write(falkordb_store, *c.values())
    first = find_candidates(falkordb_store, ECON)
    made = merge(falkordb_store, first)
    assert len(made) == 3  # two merges into one canonical concept land in separate rounds
    [into] = {m.canonical_id for m in made if m.method == "match_key"}  # equal rank: the id decides
    [canon] = falkordb_store.run("MATCH (c:Concept {id: $id}) RETURN c.name AS n, c.aliases AS a", {"id": into})
    assert sorted([canon["n"], *canon["a"]]) == ["Demand-Curve", "demand curve", "demand curves"]
    assert find_candidates(falkordb_store, ECON) == []
    assert merge(falkordb_store, first) == []
    assert len(list_merges(falkordb_store, ECON)) == 3


def test_merge_validates_its_input(falkordb_store: GraphStore) -> None:
    c = concepts("tax", "taxes", "tax rate")
    write(falkordb_store, *c.values())
    with pytest.raises(NotFound, match="con_missing"):
        merge(falkordb_store, [Candidate(c["tax"].id, "con_missing", "exact", 100.0)])
    with pytest.raises(InputError, match="into itself"):
        merge(falkordb_store, [Candidate(c["tax"].id, c["tax"].id, "exact", 100.0)])
    with pytest.raises(InputError, match="both a duplicate and a canonical"):
        merge(falkordb_store, [Candidate(c["tax"].id, c["taxes"].id, "exact", 100.0),
                               Candidate(c["taxes"].id, c["tax rate"].id, "exact", 100.0)])
    assert list_merges(falkordb_store) == []


def test_chained_merges_resolve_to_the_root_and_undo_in_reverse(falkordb_store: GraphStore) -> None:
    c = concepts("tax", "taxes", "levy")
    write(falkordb_store, *c.values())
    [first] = merge(falkordb_store, [Candidate(c["tax"].id, c["taxes"].id, "match_key", 100.0)])
    [second] = merge(falkordb_store, [Candidate(c["levy"].id, c["tax"].id, "exact", 100.0)])
    assert second.added_aliases == ("tax", "taxes")
    table = AliasTable.load(falkordb_store, ECON)
    assert (table.resolve("taxes", ECON), table.resolve("Tax", ECON)) == ("levy", "levy")
    with pytest.raises(InputError, match="undo that merge first"):
        undo_merge(falkordb_store, first.id)
    undo_merge(falkordb_store, second.id)
    undo_merge(falkordb_store, first.id)
    props = {r["name"]: (r["aliases"], r["m"]) for r in falkordb_store.run(
        "MATCH (c:Concept) RETURN c.name AS name, c.aliases AS aliases, c.merged_into AS m")}
    assert props == {"tax": ([], None), "taxes": ([], None), "levy": ([], None)}


def test_alias_table_from_rows() -> None:
    rows = [
        {"id": "a", "name": "interest rates", "aliases": [], "merged_into": "b"},
        {"id": "b", "name": "rate of interest", "aliases": ["interest rates"], "merged_into": "c"},
        {"id": "c", "name": "interest rate", "aliases": ["rate of interest", "interest rates", "IR"],
         "merged_into": None},
        {"id": "d", "name": "bond", "aliases": ["IR"], "merged_into": None},  # "IR" is claimed twice
        {"id": "e", "name": "GDP", "aliases": [], "merged_into": None},
    ]
    table = AliasTable.from_rows(ECON, rows)
    assert table.resolve("Interest Rates", ECON) == "interest rate"
    assert table.resolve("rates of interest", ECON) == "interest rate"  # by the plural/singular key
    assert table.resolve("IR", ECON) == "IR"  # ambiguous: left as it is
    # "bond" merely exists: no one recorded "bonds" as its form, so extraction keeps it apart
    # ("proda resolve" proposes the merge); otherwise a resumed run would fold what a clean run keeps
    assert table.resolve("bonds", ECON) == "bonds"
    assert table.resolve("Bond", ECON) == "Bond"  # an own name resolves to itself, spelled as given
    assert table.resolve("GDPs", ECON) == "GDPs"  # acronyms are never singularised
    assert table.resolve("  new idea ", ECON) == "new idea"
    assert table.resolve("interest rates", "biology") == "interest rates"


def test_plan_candidates_skips_merged_concepts_but_uses_their_names() -> None:
    rows = [
        {"id": "a", "name": "supply curves", "aliases": [], "merged_into": "b", "degree": 0, "chains": 0},
        {"id": "b", "name": "supply curve", "aliases": ["supply curves"], "merged_into": None, "degree": 1,
         "chains": 0},
        {"id": "c", "name": "Supply Curves", "aliases": [], "merged_into": None, "degree": 0, "chains": 0},
    ]
    [cand] = plan_candidates(rows, ECON)
    assert (cand.canonical_id, cand.duplicate_id, cand.method) == ("b", "c", "exact")


def test_alias_table_survives_rewriting_the_canonical_concept(falkordb_store: GraphStore) -> None:
    t = load_toy(falkordb_store)
    merge(falkordb_store, find_candidates(falkordb_store, ECON))
    write(falkordb_store, t.c["supply curve"])  # re-extraction upserts the concept with its own (empty) aliases
    assert AliasTable.load(falkordb_store, ECON).resolve("Supply Curves", ECON) == "supply curve"
    assert find_candidates(falkordb_store, ECON) == []


def test_alias_table_ignores_concepts_that_merely_exist() -> None:
    """Resolution depends on recorded aliases and merges, not on what extraction wrote before."""
    extracted = [{"id": f"c{i}", "name": n, "aliases": [], "merged_into": None}
                 for i, n in enumerate(["bond", "price ceiling", "Demand Curve", "interest rate"])]
    empty = AliasTable.from_rows(ECON, [])
    table = AliasTable.from_rows(ECON, extracted)
    names = ["bonds", "price ceilings", "demand curves", "demand curve", "Interest Rates", "bond", "new idea"]
    assert [table.resolve(n, ECON) for n in names] == [empty.resolve(n, ECON) for n in names] == names
    # a recorded merge does redirect, plural variants of the recorded form included
    merged = [*extracted, {"id": "c9", "name": "bonds", "aliases": [], "merged_into": "c0"}]
    table = AliasTable.from_rows(ECON, merged)
    assert (table.resolve("Bonds", ECON), table.resolve("bond", ECON)) == ("bond", "bond")
    assert table.resolve("price ceilings", ECON) == "price ceilings"


def test_one_word_names_fold_across_plural_only_where_one_document_uses_both() -> None:
    # "positions" (jobs) in one module and "position" (a stance) in another are different concepts;
    # multi-word terms fold anywhere, and a one-word pair used in the same document folds
    rows = [
        {"id": "c1", "name": "positions", "documents": ["doc_a"], "degree": 1},
        {"id": "c2", "name": "position", "documents": ["doc_b"], "degree": 2},
        {"id": "c3", "name": "job fairs", "documents": ["doc_a"], "degree": 1},
        {"id": "c4", "name": "job fair", "documents": ["doc_c"], "degree": 2},
        {"id": "c5", "name": "tariffs", "documents": ["doc_d", "doc_e"], "degree": 1},
        {"id": "c6", "name": "tariff", "documents": ["doc_e"], "degree": 2},
    ]
    merged = {(c.duplicate_id, c.canonical_id, c.method) for c in plan_candidates(rows, ECON)}
    assert merged == {("c3", "c4", "match_key"), ("c5", "c6", "match_key")}


def test_two_forms_of_one_word_need_a_shared_document_on_embedding_evidence_too() -> None:
    rows = [{"id": "i1", "name": "input", "documents": ["doc_a"], "degree": 1},
            {"id": "i2", "name": "inputs", "documents": ["doc_b"], "degree": 2},
            {"id": "l1", "name": "lawyers", "documents": ["doc_c"], "degree": 1},
            {"id": "l2", "name": "attorneys", "documents": ["doc_c"], "degree": 2},
            {"id": "t1", "name": "trade balance", "documents": ["doc_d"], "degree": 1},
            {"id": "t2", "name": "balance of trade", "documents": ["doc_e"], "degree": 2}]
    extra = {("i1", "i2"): ("embedding", 0.93), ("l1", "l2"): ("embedding", 0.9), ("t1", "t2"): ("embedding", 0.96)}
    merged = {(c.duplicate_id, c.canonical_id) for c in plan_candidates(rows, ECON, extra=extra)}  # type: ignore[arg-type]
    assert merged == {("l1", "l2"), ("t1", "t2")}
