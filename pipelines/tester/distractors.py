"""The three perturbation operators (docs/method.md), each one batched catalog query over many chains.

* INVREL: replace step i's relation by its inverse/contrary and follow the rest of the chain's types
  from there (``bench_invrel``): the conclusion of someone who had that relation backwards.
* TRUNC: the intermediate concepts c1..c(n-1) (``bench_trunc``): right after k < n steps, wrong for
  the question.
* NEARMISS: concepts close to the answer that do not satisfy the chain: close in the graph
  (``bench_nearmiss``), or in the same role in the answer's own document (``bench_peers``).

Every candidate records the ids of the graph elements it was derived from. None is trusted yet:
:mod:`proda.pipelines.tester.validity` proves each one wrong before it becomes an option.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from proda.pipelines.tester.chains import ChainView
from proda.pipelines.tester.model import Candidate, ConceptRef
from proda.schema.store.base import GraphStore, Row
from proda.schema.vocabulary import Vocabulary

Candidates = dict[str, list[Candidate]]

# NEARMISS siblings: a concept's parent is what it is_a / part_of / example_of (or what has it as a part)
PARENT_UP = ("is_a", "part_of", "example_of")
PARENT_DOWN = ("has_part",)
# peers come last: the structural kinds are closer to the answer, and a peer is only needed where a sparse
# neighbourhood leaves too few of them (nearly every chain the Tester skips is short of distractors)
NEARMISS_ORDER = {"sibling_chain": 0, "sibling": 1, "alt_ending": 2, "neighbour": 3, "peer": 4}


def _concept(r: Row) -> ConceptRef:
    # bench_nearmiss returns no canonical_id: it only proposes concepts that are not merged away
    return ConceptRef(id=r["concept_id"], name=r["name"] or "", canonical_id=r.get("canonical_id") or r["concept_id"],
                      aliases=tuple(r["aliases"] or ()))


def trunc(store: GraphStore, chains: Sequence[ChainView]) -> Candidates:
    """TRUNC candidates per chain id; the later the stop, the more tempting, so it is tried first."""
    out: Candidates = defaultdict(list)
    ids = [c.id for c in chains if c.length > 1]
    if not ids:
        return out
    for r in store.query("bench_trunc", {"chain_ids": ids}):
        k = int(r["steps"])
        out[r["chain_id"]].append(Candidate("TRUNC", "trunc", _concept(r), tuple(r["via"]),
                                            detail=f"stopped after {k} step(s)", preference=-k))
    return out


def trunc_from_steps(chains: Sequence[ChainView]) -> Candidates:
    """TRUNC candidates per chain id taken from the chains as :func:`~proda.pipelines.tester.chains.read_chains`
    returned them, without a round trip: the same stops ``bench_trunc`` finds over the chain's HAS_STEP edges,
    since a chain's step k links the concept at position k, which ``read_chains`` has just found in the graph."""
    out: Candidates = defaultdict(list)
    for c in chains:
        for k in range(1, c.length):
            out[c.id].append(Candidate("TRUNC", "trunc", c.concepts[k], tuple(c.relation_ids[:k]),
                                       detail=f"stopped after {k} step(s)", preference=-k))
    return out


def invrel_rows(chain: ChainView, vocab: Vocabulary, notes: Counter[str]) -> list[dict[str, Any]]:
    """The ``bench_invrel`` rows of one chain: one per step whose type has an inverse that differs from it."""
    rows = []
    for pos, t in enumerate(chain.relation_types):
        inverse = vocab.inverse(t) if t in vocab else None
        if inverse is None:
            notes["invrel_step_without_inverse"] += 1
            continue
        if inverse == t:  # symmetric (contrasts_with): "backwards" is the same relation, the true answer
            notes["invrel_step_symmetric"] += 1
            continue
        rows.append({"chain_id": chain.id, "pos": pos, "from_id": chain.concepts[pos].id,
                     "types": [inverse, *chain.relation_types[pos + 1:]]})
    return rows


def invrel(store: GraphStore, chains: Sequence[ChainView], vocab: Vocabulary, limit: int,
           notes: Counter[str]) -> Candidates:
    """INVREL candidates per chain id. ``notes`` counts steps that could not be inverted, and why."""
    out: Candidates = defaultdict(list)
    by_id = {c.id: c for c in chains}
    rows: list[dict[str, Any]] = []
    for c in chains:
        mine = invrel_rows(c, vocab, notes)
        if not mine:
            notes["invrel_chain_without_invertible_step"] += 1
        rows.extend(mine)
    if not rows:
        return out
    for r in store.query("bench_invrel", {"rows": rows, "limit": limit}):
        chain = by_id[r["chain_id"]]
        pos = int(r["pos"])
        t = chain.relation_types[pos]
        detail = f"step {pos + 1} '{t}' read as '{vocab.inverse(t)}'"
        # the prefix the reasoner walked correctly, then the path the inverted reading took
        via = (*chain.relation_ids[:pos], *r["via"])
        out[r["chain_id"]].append(Candidate("INVREL", "invrel", _concept(r), via, detail=detail,
                                            preference=-pos))
    return out


def nearmiss_params(chains: Sequence[ChainView], limit: int) -> dict[str, Any]:
    """The ``bench_nearmiss`` parameters of a batch of chains."""
    rows = [{"chain_id": c.id, "discipline": c.discipline, "answer_id": c.answer.id, "prev_id": c.concepts[-2].id,
             "last_type": c.relation_types[-1], "prefix_ids": list(c.relation_ids[:-1]), "length": c.length}
            for c in chains]
    return {"rows": rows, "up": list(PARENT_UP), "down": list(PARENT_DOWN), "limit": limit}


def nearmiss(store: GraphStore, chains: Sequence[ChainView], limit: int) -> Candidates:
    """Structural NEARMISS candidates per chain id, tried in the order sibling_chain, sibling, alt_ending,
    neighbour (the builder adds peers, :func:`peers`, where these leave a chain short)."""
    out: Candidates = defaultdict(list)
    if not chains:
        return out
    for r in store.query("bench_nearmiss", nearmiss_params(chains, limit)):
        kind = r["kind"]
        out[r["chain_id"]].append(Candidate("NEARMISS", kind, _concept(r), tuple(r["via"]), detail=kind,
                                            preference=NEARMISS_ORDER.get(kind, 9)))
    return out


def peers_params(chains: Sequence[ChainView], limit: int) -> dict[str, Any]:
    """The ``bench_peers`` parameters of a batch of chains."""
    rows = [{"chain_id": c.id, "discipline": c.discipline, "start_id": c.start.id, "relation_id": c.relation_ids[-1],
             "type": c.relation_types[-1], "concept_ids": [x.id for x in c.concepts]} for c in chains]
    return {"rows": rows, "limit": limit}


def peers(store: GraphStore, chains: Sequence[ChainView], limit: int) -> Candidates:
    """NEARMISS candidates of kind ``peer`` per chain id: the objects of the last step's relation type in
    other statements of the answer's document (``bench_peers``)."""
    out: Candidates = defaultdict(list)
    if not chains:
        return out
    for r in store.query("bench_peers", peers_params(chains, limit)):
        out[r["chain_id"]].append(Candidate("NEARMISS", "peer", _concept(r), tuple(r["via"]),
                                            detail="in the answer's role elsewhere in its document",
                                            preference=NEARMISS_ORDER["peer"], about=tuple(r["about"] or ())))
    return out
