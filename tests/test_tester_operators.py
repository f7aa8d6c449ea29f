"""Each distractor operator's catalog query on hand-built graphs with known answers, on every backend.

Including graphs where an operator must find nothing: a one-step chain (TRUNC), types without an
inverse or symmetric ones (INVREL), a concept with no structural neighbours (NEARMISS).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from proda.errors import UnknownRelationType
from proda.pipelines.tester import distractors
from proda.pipelines.tester.chains import ChainView, implications, read_chains, restatements
from proda.pipelines.tester.model import Candidate, ConceptRef
from proda.pipelines.tester.question import question_text
from proda.pipelines.tester.validity import prove, reach_rows, reachable, rejection_reason, select
from proda.schema import Chain, Chunk, Concept, Document, Relation
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter
from proda.schema.vocabulary import default_vocabulary
from tests.graphs import HAND, covers
from tests.tester_world import load_economics, merge

VOCAB = default_vocabulary()


def names(cands: list[distractors.Candidate]) -> set[tuple[str, str]]:
    return {(c.kind, c.concept.name) for c in cands}


def test_chain_steps_join_the_chain_with_the_graph_as_it_is_now(store: GraphStore) -> None:
    covers("bench_chain_steps")
    w = load_economics(store)
    a, c = w.chains["A"], w.chains["C"]
    views = read_chains(store, [a.id, c.id, "chn_missing"])
    assert set(views) == {a.id, c.id}
    va = views[a.id]
    assert [x.name for x in va.concepts] == ["price", "supply", "surplus"]
    assert va.relation_types == ("increases", "causes") and va.relation_ids == tuple(a.relation_ids)
    assert va.split == "test" and va.broken is None
    assert len(va.evidence) == 2 and va.answer_evidence == w.r["supply>surplus"].evidence
    store.run("MATCH ()-[r:RELATION {id: $id}]->() DELETE r", {"id": w.r["supply>surplus"].id}, read_only=False)
    broken = read_chains(store, [a.id])[a.id]
    assert broken.broken == "the relation edge(s) of step(s) [1] no longer exist"
    store.run("MATCH (x:Concept {id: $id}) DETACH DELETE x", {"id": w.c["wage"].id}, read_only=False)
    assert read_chains(store, [c.id])[c.id].broken == "concept(s) at position [0] no longer exist"


def test_trunc_finds_the_intermediate_concepts_and_nothing_on_one_step_chains(store: GraphStore) -> None:
    covers("bench_trunc")
    w = load_economics(store)
    views = read_chains(store, [ch.id for ch in w.chains.values()])
    found = distractors.trunc(store, list(views.values()))
    a, c, d = w.chains["A"], w.chains["C"], w.chains["D"]
    [cand] = found[a.id]
    assert (cand.concept.name, cand.via) == ("supply", (w.r["price>supply"].id,))
    assert cand.detail == "stopped after 1 step(s)"
    assert [x.concept.name for x in found[d.id]] == ["product"]
    assert found.get(c.id, []) == []  # one step: nothing to stop early at


def test_trunc_from_the_chain_read_finds_what_bench_trunc_finds(store: GraphStore) -> None:
    w = load_economics(store)
    merge(store, w.c["product"], w.c["offering"])  # a merged stop: its own id and name, the canonical id of another
    chains = list(read_chains(store, [ch.id for ch in w.chains.values()]).values())
    from_graph = distractors.trunc(store, chains)
    from_steps = distractors.trunc_from_steps(chains)
    assert {k: v for k, v in from_steps.items() if v} == {k: v for k, v in from_graph.items() if v}
    [stop] = from_steps[w.chains["D"].id]
    assert (stop.concept.name, stop.concept.canonical_id) == ("product", w.c["offering"].id)


def test_invrel_follows_the_inverse_relation_then_the_rest_of_the_chain(store: GraphStore) -> None:
    covers("bench_invrel")
    w = load_economics(store)
    views = read_chains(store, [ch.id for ch in w.chains.values()])
    notes: Counter[str] = Counter()
    found = distractors.invrel(store, list(views.values()), VOCAB, 20, notes)
    a = w.chains["A"]
    by_name = {c.concept.name: c for c in found[a.id]}
    assert set(by_name) == {"shortage", "inflation", "excess supply"}
    # step 1 inverted: price -decreases-> demand -causes-> shortage
    assert by_name["shortage"].via == (w.r["price>demand"].id, w.r["demand>shortage"].id)
    assert by_name["shortage"].detail == "step 1 'increases' read as 'decreases'"
    # step 2 inverted: the correct first step, then supply -prevents-> inflation
    assert by_name["inflation"].via == (w.r["price>supply"].id, w.r["supply>inflation"].id)
    assert by_name["excess supply"].concept.canonical_id == w.c["surplus"].id  # merged: an alias of the answer
    # nothing where the inverse edge does not exist (C), no type has an inverse (D), or the type is symmetric (E)
    for key in ("C", "D", "E"):
        assert found.get(w.chains[key].id, []) == [], key
    assert notes["invrel_step_without_inverse"] == 2  # is_a, defined_as
    assert notes["invrel_step_symmetric"] == 1  # contrasts_with
    assert notes["invrel_chain_without_invertible_step"] == 2  # D and E send no row at all


def test_invrel_respects_the_limit_per_row(store: GraphStore) -> None:
    w = load_economics(store)
    rows = [{"chain_id": "x", "pos": 1, "from_id": w.c["supply"].id, "types": ["prevents"]}]
    got = store.query("bench_invrel", {"rows": rows, "limit": 1})
    assert len(got) == 1 and got[0]["concept_id"] == min(w.ids("inflation", "excess supply"))


def test_nearmiss_finds_each_kind_and_stays_in_the_discipline(store: GraphStore) -> None:
    covers("bench_nearmiss")
    w = load_economics(store)
    views = read_chains(store, [ch.id for ch in w.chains.values()])
    found = distractors.nearmiss(store, list(views.values()), 10)
    a = w.chains["A"]
    assert names(found[a.id]) == {
        ("sibling_chain", "trade"),
        ("sibling", "equilibrium"), ("sibling", "glut"), ("sibling", "oversupply"),
        ("alt_ending", "trade"), ("alt_ending", "production"), ("alt_ending", "inflation"),
        ("neighbour", "storage cost"), ("neighbour", "market condition"),
    }  # excess supply (merged away) is never proposed; supply (the step before) is not a neighbour
    [sib_chain] = [c for c in found[a.id] if c.kind == "sibling_chain"]
    assert sib_chain.via == (w.chains["B"].id, w.r["supply>trade"].id)
    assert found.get(w.chains["C"].id, []) == []  # wage -> spending: nothing near spending
    # another discipline's concept next to the answer is not a near miss
    store.run("MATCH (s:Concept {id: $id}) CREATE (s)-[:RELATION {id: 'rel_x', type: 'is_a', discipline: 'biology'}]"
              "->(:Concept {id: 'con_x', name: 'cell', discipline: 'biology'})", {"id": w.c["surplus"].id},
              read_only=False)
    again = distractors.nearmiss(store, [views[a.id]], 10)
    assert "cell" not in {c.concept.name for c in again[a.id]}


def test_reach_proves_which_targets_the_type_sequence_reaches(store: GraphStore) -> None:
    covers("bench_reach")
    w = load_economics(store)
    c = w.c
    start, types = c["price"].id, ["increases", "causes"]
    got = reachable(store, [reach_rows("a", start, types, [c[n].id for n in ("surplus", "glut", "shortage", "trade")]),
                            reach_rows("b", c["supply"].id, ["prevents"], [c["surplus"].id]),
                            reach_rows("c", c["wage"].id, ["decreases"], [c["spending"].id])])
    assert got["a"] == {c["surplus"].id, c["glut"].id}  # glut is a correct answer by the graph
    assert got["b"] == {c["surplus"].id}  # through excess supply, merged into surplus
    assert "c" not in got
    # prove(): per chain, answer and candidates together, in one round trip
    views = read_chains(store, [w.chains["A"].id])
    cands = distractors.nearmiss(store, list(views.values()), 10)
    proved = prove(store, list(views.values()), cands)
    assert proved[w.chains["A"].id] == {c["surplus"].id, c["glut"].id}


@pytest.mark.parametrize("length", [1, 3, 6])
def test_reach_follows_sequences_up_to_six_steps(store: GraphStore, length: int) -> None:
    store.run("UNWIND range(0, 7) AS i CREATE (:Concept {id: 'k' + toString(i), name: 'k' + toString(i), "
              "discipline: 'x'})", read_only=False)
    store.run("UNWIND range(0, 6) AS i MATCH (a:Concept {id: 'k' + toString(i)}), (b:Concept {id: 'k' + "
              "toString(i + 1)}) CREATE (a)-[:RELATION {id: 'e' + toString(i), type: 'causes'}]->(b)", read_only=False)
    got = reachable(store, [reach_rows("r", "k0", ["causes"] * length, [f"k{i}" for i in range(8)])])
    assert got["r"] == {f"k{length}"}


def test_question_walks_the_chain_with_the_vocabulary_phrases() -> None:
    q = question_text("economics", "price", ["increases", "causes", "is_a"], VOCAB)
    assert q == ("In economics: price increases X1, X1 causes X2, and X2 is a kind of X3. Which concept is X3?")
    assert question_text("computer_science", "loop", ["requires"], VOCAB) == (
        "In computer science: loop requires X1. Which concept is X1?")
    with pytest.raises(UnknownRelationType, match="regulates"):
        question_text("economics", "price", ["regulates"], VOCAB)


def _ref(name: str) -> ConceptRef:
    return ConceptRef(id=name, name=name, canonical_id=name)


def test_distractors_that_restate_the_answer_or_share_its_sentence_are_refused() -> None:
    chain = ChainView(id="chn_x", discipline="economics", split="test", concepts=(_ref("budget deficit"),
                      _ref("inflow of foreign capital")), relation_ids=("rel_x",), relation_types=("causes",),
                      evidence=("A budget deficit results in an inflow of foreign capital and a trade deficit.",))
    why = {n: rejection_reason(chain, Candidate("NEARMISS", "sibling", _ref(n), ()), set(), [])
           for n in ("trade deficits", "foreign capital", "capital inflow of foreign capital", "tax revenue",
                     "budget deficit")}
    # the plural "trade deficits" is still named in the sentence; "foreign capital" lies inside the answer,
    # and the answer inside "capital inflow of foreign capital"; the start is refused as named in the question
    assert why == {"trade deficits": "stated_with_answer", "foreign capital": "overlaps_answer",
                   "capital inflow of foreign capital": "overlaps_answer", "tax revenue": None,
                   "budget deficit": "is_start"}
    chosen = select(chain, [Candidate("NEARMISS", "sibling", _ref(n), ()) for n in why], reached=set(), n=3,
                    seed=0, rejected=Counter())
    assert [c.concept.name for c in chosen] == ["tax revenue"]


def test_a_definition_of_the_answer_is_never_its_distractor(store: GraphStore) -> None:
    """Chain D ends ``product -defined_as-> offering``: the answer defines the concept before it, so the two
    name one thing, and TRUNC's stop at "product" would be a second right answer."""
    covers("bench_restatements")
    w = load_economics(store)
    a, d = w.chains["A"], w.chains["D"]
    views = read_chains(store, [a.id, d.id])
    assert VOCAB.restating() == ["defined_as"]
    found = restatements(store, list(views.values()), VOCAB.restating())
    assert found[d.id] == (frozenset(w.ids("product", "offering")), frozenset())
    assert found[a.id] == (frozenset(), frozenset())
    assert restatements(store, list(views.values()), []) == {}  # a vocabulary without restating types
    chain = replace(views[d.id], restated=found[d.id][0])
    [stop] = distractors.trunc_from_steps([chain])[d.id]
    assert stop.concept.name == "product"
    assert rejection_reason(chain, stop, set(), []) == "restates_answer"
    assert rejection_reason(views[d.id], stop, set(), []) is None  # what the builder offered before
    rejected: Counter[str] = Counter()
    assert select(chain, [stop], reached=set(), n=3, seed=0, rejected=rejected) == []
    assert rejected == {"restates_answer": 1}


def test_a_definition_of_the_start_is_never_a_distractor(store: GraphStore) -> None:
    """A definition names its concept again, so it may be a right answer where the start is the subject
    ("string is an example of X1": "a sequence of characters"); it is refused as the start itself is."""
    w = load_economics(store)
    extra = [w.rel("good", "defined_as", "thing offered for sale")]
    w.chain("G", ["good", "product"])  # good -is_a-> product, a second chain from good
    GraphWriter(store, batch_size=500).write([w.c["thing offered for sale"], *extra, w.chains["G"]])
    g = w.chains["G"]
    view = read_chains(store, [g.id])[g.id]
    answer_side, start_side = restatements(store, [view], VOCAB.restating())[g.id]
    assert answer_side == frozenset(w.ids("offering"))  # product is defined as offering
    assert start_side == frozenset(w.ids("thing offered for sale"))
    chain = replace(view, restated=answer_side, restated_start=start_side)
    definition = w.c["thing offered for sale"]
    candidate = Candidate("NEARMISS", "sibling_chain",
                          ConceptRef(id=definition.id, name=definition.name, canonical_id=definition.id), ())
    assert rejection_reason(chain, candidate, set(), []) == "restates_start"
    assert rejection_reason(view, candidate, set(), []) is None


def test_a_concept_the_answer_is_a_kind_of_is_never_its_distractor(store: GraphStore) -> None:
    """"surplus is a kind of X1": the answer is "market condition", and since a market condition is a kind of
    economic state, which is a kind of state of affairs, both are right answers too; so is nothing reached
    over a type that does not carry over, nor anything for a chain whose last type carries nothing."""
    covers("bench_implied")
    w = load_economics(store)
    extra = [w.rel("market condition", "is_a", "economic state"),
             w.rel("economic state", "is_a", "state of affairs"),
             w.rel("state of affairs", "causes", "policy"),
             w.rel("market condition", "measured_by", "price index")]
    w.chain("F", ["surplus", "market condition"])
    GraphWriter(store, batch_size=500).write([*(w.c[n] for n in ("economic state", "state of affairs", "policy",
                                                                  "price index")), *extra, w.chains["F"]])
    f, a = w.chains["F"], w.chains["A"]
    views = read_chains(store, [f.id, a.id])
    assert VOCAB.carried_over("is_a") == ("is_a", "example_of") and VOCAB.carried_over("causes") == ()
    found = implications(store, list(views.values()), VOCAB)
    # A ends with "causes", which carries nothing over (and the graph holds no near type from supply)
    assert found == {f.id: (frozenset(w.ids("economic state", "state of affairs")), frozenset())}
    chain = replace(views[f.id], implied=found[f.id][0])
    for name, why in (("state of affairs", "implied_by_answer"), ("policy", None), ("price index", None)):
        concept = w.c[name]
        candidate = Candidate("NEARMISS", "sibling", ConceptRef(id=concept.id, name=name, canonical_id=concept.id), ())
        assert rejection_reason(chain, candidate, set(), []) == why, name


def test_a_concept_reached_by_a_near_type_is_never_a_distractor(store: GraphStore) -> None:
    """"supply causes X1" (the end of chain A): once the graph says supply enables exports, which a reader takes
    for a cause, exports is a right answer; supply prevents inflation, the inverse, which INVREL offers and
    must stay usable, and supply precedes trade, which is no cause."""
    w = load_economics(store)
    GraphWriter(store, batch_size=500).write([w.concept("exports"), w.concept("jobs"),
                                              w.rel("supply", "enables", "exports"),
                                              w.rel("exports", "increases", "jobs")])  # two hops: no reading of it
    a = w.chains["A"]
    view = read_chains(store, [a.id])[a.id]
    assert VOCAB.near("causes") == ("increases", "enables") and VOCAB.near("measured_by") == ()
    carried, near = implications(store, [view], VOCAB)[a.id]
    assert carried == frozenset() and near == frozenset(w.ids("exports"))
    chain = replace(view, near=near)
    for name, why in (("exports", "near_type_of_answer"), ("inflation", None), ("trade", None)):
        concept = w.c[name]
        candidate = Candidate("NEARMISS", "alt_ending", ConceptRef(id=concept.id, name=name, canonical_id=concept.id),
                              ())
        assert rejection_reason(chain, candidate, set(), []) == why, name


def test_a_near_type_must_be_declared_and_not_the_inverse() -> None:
    from proda.errors import ConfigError
    from proda.schema.vocabulary import RelationType, Vocabulary

    with pytest.raises(ConfigError, match="near type 'outranks'"):
        Vocabulary([*VOCAB.types(), RelationType(name="ranks_above", phrase="ranks above", near=("outranks",))])
    with pytest.raises(ConfigError, match="own inverse"):
        Vocabulary([t.model_copy(update={"near": ("decreases",)}) if t.name == "increases" else t
                    for t in VOCAB.types()])


def test_a_vocabulary_type_that_carries_over_an_undeclared_type_is_refused() -> None:
    from proda.errors import ConfigError
    from proda.schema.vocabulary import RelationType, Vocabulary

    with pytest.raises(ConfigError, match="'ranks_above' carries over 'outranks', which is not declared"):
        Vocabulary([*VOCAB.types(), RelationType(name="ranks_above", phrase="ranks above", carries_over=("outranks",))])


def _document_world(store: GraphStore) -> tuple[dict[str, Concept], Chain]:
    """One document of two chunks stating five `increases` relations, and one more in another document.

    The test chain is ``tax -increases-> revenue`` (chunk 0). Its peers are the other objects of
    `increases` in the same document: output and sales (chunk 1). Not peers: demand (linked to tax by
    another relation), debt (another document), cost (a `decreases` object), revenue itself.
    """
    docs = [Document(source_id=f"doc{i}", discipline="economics", title=f"D{i}") for i in range(2)]
    chunks = [Chunk(document_id=docs[0].id, ordinal=0, discipline="economics", text="c0"),
              Chunk(document_id=docs[0].id, ordinal=1, discipline="economics", text="c1"),
              Chunk(document_id=docs[1].id, ordinal=0, discipline="economics", text="c2")]
    concepts: dict[str, Concept] = {}

    def concept(name: str) -> Concept:
        if name not in concepts:
            concepts[name] = Concept(name=name, discipline="economics", provenance=HAND)
        return concepts[name]

    statements = [("tax", "increases", "revenue", 0), ("subsidy", "increases", "output", 1),
                  ("advertising", "increases", "sales", 1), ("tax", "decreases", "demand", 1),
                  ("credit", "increases", "demand", 1), ("wage", "decreases", "cost", 1),
                  ("loan", "increases", "debt", 2)]
    rels = [Relation(type=t, subject_id=concept(s).id, object_id=concept(o).id, discipline="economics",
                     evidence=f"{s} {t} {o}", chunk_id=chunks[k].id, provenance=HAND) for s, t, o, k in statements]
    chain = Chain(discipline="economics", relation_ids=[rels[0].id], relation_types=["increases"],
                  concept_ids=[concept("tax").id, concept("revenue").id], split="test", provenance=HAND)
    GraphWriter(store, batch_size=100).write([*docs, *chunks, *concepts.values(), *rels, chain])
    return concepts, chain


def test_peers_are_the_answers_role_in_its_own_document(store: GraphStore) -> None:
    covers("bench_peers")
    concepts, chain = _document_world(store)
    views = read_chains(store, [chain.id])
    found = distractors.peers(store, list(views.values()), 10)
    got = {c.concept.name: c for c in found[chain.id]}
    assert set(got) == {"output", "sales"}
    assert all(c.operator == "NEARMISS" and c.kind == "peer" for c in got.values())
    assert got["output"].about == ("subsidy",) and got["sales"].about == ("advertising",)
    [via] = store.run("MATCH (:Concept {name: 'subsidy'})-[r:RELATION]->(:Concept {name: 'output'}) RETURN r.id AS id")
    assert got["output"].via == (via["id"],)
    # the limit holds per chain and keeps the lowest concept ids, whatever else the batch holds; peers are tried
    # after every other NEARMISS kind, and only the builder adds them
    first = min(concepts["output"].id, concepts["sales"].id)
    for batch in ([views[chain.id]], [*read_chains(store, [c.id for c in load_economics(store).chains.values()])
                                      .values(), views[chain.id]]):
        assert [c.concept.id for c in distractors.peers(store, batch, 1)[chain.id]] == [first]
    assert not any(c.kind == "peer" for c in distractors.nearmiss(store, list(views.values()), 10)[chain.id])
    assert all(c.preference == max(distractors.NEARMISS_ORDER.values()) for c in got.values())
    # a relation without a chunk (hand-loaded, or from an older graph) has no document, hence no peers
    orphan = read_chains(store, [chain.id])[chain.id]
    store.run("MATCH ()-[r:RELATION {id: $id}]->() SET r.chunk_id = ''", {"id": chain.relation_ids[0]},
              read_only=False)
    assert distractors.peers(store, [orphan], 10) == {}


def test_a_peer_on_the_same_subject_as_the_question_is_refused() -> None:
    """A peer whose statement shares a content word (after the plural/singular key) with the start or the
    answer, or that shares one with the answer itself, may be right too; other kinds are not judged so."""
    chain = ChainView(id="ch", discipline="economics", split="test", concepts=(_ref("increasing output"),
                      _ref("purchase of computer space")), relation_ids=("r",), relation_types=("requires",))

    def peer(name: str, *about: str, kind: str = "peer") -> str | None:
        return rejection_reason(chain, Candidate("NEARMISS", kind, _ref(name), (), about=about), set(), [])

    assert peer("greater quantities of inputs", "producing output") == "peer_on_same_subject"  # start's word
    assert peer("disk quota", "server purchases") == "peer_on_same_subject"  # a plural of the answer's word
    assert peer("computer hardware", "budget") == "peer_on_same_subject"  # the peer shares the answer's word
    assert peer("production function", "discussion of costs") is None  # "of" is no content word
    assert peer("greater quantities of inputs", "producing output", kind="sibling") is None
