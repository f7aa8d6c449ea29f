"""Validity by construction: every distractor is proven wrong in the graph before it becomes an option.

Two rules (docs/method.md):

* **provably wrong**: no path from the start concept through the chain's relation-type sequence
  reaches the distractor or any alias of it (``bench_reach``, batched over many chains);
* **distinct**: no two options are the same concept (canonical id after SAME_AS merges) or share a
  name or alias (normalised), so no option is right "under another name".

Two more rules come from reading generated items against their source text: a distractor whose name
contains the answer's name or is contained in it ("long-term debt" / "long-term debt obligations") is
the answer in other words, and a distractor named in the sentence that states the answer is often
stated by it too ("a deficit results in an inflow of capital and a trade deficit"), even where the
graph lacks that relation. Both are refused (``overlaps_answer``, ``stated_with_answer``). So is a
concept that a restating relation links to the answer ("inheritance" / "one class is a type of another
class"): the two name one thing (``restates_answer``); and one that restates the start, which the
question names ("string is an example of X1": "a sequence of characters" is a right answer too;
``restates_start``).

A peer (a concept in the answer's role in another statement of its document) is refused where that
statement shares a content word with the start or the answer ("producing output requires inputs" for
"increasing output requires X1"; "promotion is part of the marketing mix" for "social media is part of
the promotion mix") or the peer itself shares one with the answer ("business functions" for "payroll
functions"): reading about the same thing, it may well be right (``peer_on_same_subject``).

A chain that cannot yield enough valid distractors yields no item; its candidates' rejections are
counted by reason.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from proda.pipelines.tester.chains import ChainView
from proda.pipelines.tester.model import OPERATORS, Candidate, ConceptRef
from proda.schema.ids import FUNCTION_WORDS, normalise_name
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import match_key


@lru_cache(maxsize=65_536)  # the same concepts are compared many times while options are chosen
def name_keys(c: ConceptRef) -> frozenset[str]:
    """The normalised name and aliases under which a concept may be recognised."""
    return frozenset(k for k in (normalise_name(x) for x in (c.name, *c.aliases)) if k)


def clash(a: ConceptRef, b: ConceptRef) -> str | None:
    """Why two concepts cannot both be options (``same_concept`` / ``alias_collision``), or None."""
    if a.canonical_id == b.canonical_id:
        return "same_concept"
    if name_keys(a) & name_keys(b):
        return "alias_collision"
    return None


@lru_cache(maxsize=65_536)
def _tokens(text: str) -> tuple[str, ...]:
    # the resolver's plural/singular key, split on anything that is not a letter or digit
    return tuple(t for t in "".join(ch if ch.isalnum() else " " for ch in match_key(text)).split() if t)


def content_words(name: str) -> frozenset[str]:
    """The words of a name, after the resolver's plural/singular key, less function words."""
    return frozenset(t for t in _tokens(name) if t not in FUNCTION_WORDS)


def shares_word(a: str, b: str) -> bool:
    return bool(content_words(a) & content_words(b))


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    """Whether ``shorter`` is a contiguous run of ``longer`` (whole words)."""
    n = len(shorter)
    return 0 < n <= len(longer) and any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))


def overlaps(a: ConceptRef, b: ConceptRef) -> bool:
    """Whether one concept's name, as whole words, lies inside the other's."""
    ta, tb = _tokens(a.name), _tokens(b.name)
    return _contains(ta, tb) or _contains(tb, ta)


def named_in(c: ConceptRef, text: str) -> bool:
    """Whether the concept's name or an alias occurs, as whole words, in ``text``."""
    words = _tokens(text)
    return bool(words) and any(_contains(words, _tokens(n)) for n in (c.name, *c.aliases) if n)


def reach_rows(key: str, start_id: str, types: Sequence[str], targets: Iterable[str]) -> dict[str, Any]:
    return {"key": key, "start_id": start_id, "types": list(types), "targets": sorted(set(targets))}


def reachable(store: GraphStore, rows: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    """For each row key, the target canonical ids that its relation-type sequence reaches from its start."""
    out: dict[str, set[str]] = defaultdict(set)
    if rows:
        for r in store.query("bench_reach", {"rows": list(rows)}):
            out[r["key"]].add(r["canonical_id"])
    return out


def prove(store: GraphStore, chains: Sequence[ChainView],
          candidates: Mapping[str, Sequence[Candidate]]) -> dict[str, set[str]]:
    """Per chain id, which of {answer} + its candidates the chain's own type sequence reaches.

    A candidate in the set is a correct answer by the graph and must not be a distractor; the
    answer must be in it (else the chain no longer leads to its own answer).
    """
    return reachable(store, proof_rows(chains, candidates))


def proof_rows(chains: Sequence[ChainView], candidates: Mapping[str, Sequence[Candidate]]) -> list[dict[str, Any]]:
    """The ``bench_reach`` rows :func:`prove` sends: per chain, its answer and candidates as targets."""
    return [reach_rows(c.id, c.start.id, c.relation_types,
                       [c.answer.canonical_id, *(x.concept.canonical_id for x in candidates.get(c.id, ()))])
            for c in chains]


def _tiebreak(seed: int, chain_id: str, concept_id: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{chain_id}\x1f{concept_id}".encode()).hexdigest()


def select(chain: ChainView, candidates: Sequence[Candidate], reached: set[str], n: int, seed: int,
           rejected: Counter[str]) -> list[Candidate]:
    """Pick up to ``n`` valid distractors, one operator after another (INVREL, TRUNC, NEARMISS) for a mix.

    Within an operator candidates are tried by preference, then in a seeded order. Each rejected
    candidate is counted in ``rejected`` by reason: ``reachable`` (the graph makes it a correct
    answer), ``is_answer`` / ``answer_alias``, ``restates_answer`` (a definition of the answer, or what
    it defines), ``implied_by_answer`` (the last step's type carries over from the answer to it: a kind of
    a kind), ``near_type_of_answer`` (the step before the answer reaches it by a type a reader may take for
    the last one), ``is_start`` (named in the question) / ``restates_start`` (a definition of it),
    ``overlaps_answer`` / ``stated_with_answer`` / ``peer_on_same_subject`` (see the module's rules),
    ``same_concept`` / ``alias_collision`` with an option already chosen.
    """
    queues: dict[str, list[Candidate]] = {op: [] for op in OPERATORS}
    for c in candidates:
        queues[c.operator].append(c)
    for q in queues.values():
        q.sort(key=lambda c: (c.preference, _tiebreak(seed, chain.id, c.concept.id)))
    chosen: list[Candidate] = []
    seen: set[tuple[str, str]] = set()  # (operator, canonical): one rejection count per distinct candidate
    while len(chosen) < n and any(queues.values()):
        for op in OPERATORS:
            if len(chosen) >= n:
                break
            q = queues[op]
            while q:
                c = q.pop(0)
                why = rejection_reason(chain, c, reached, chosen)
                if why is None:
                    chosen.append(c)
                    break
                if (op, c.concept.canonical_id) not in seen:
                    seen.add((op, c.concept.canonical_id))
                    rejected[why] += 1
    return chosen


def rejection_reason(chain: ChainView, c: Candidate, reached: set[str], chosen: Sequence[Candidate]) -> str | None:
    concept = c.concept
    if concept.canonical_id == chain.answer.canonical_id:
        return "is_answer"
    if concept.canonical_id in reached:
        return "reachable"
    if clash(concept, chain.answer) is not None:
        return "answer_alias"
    if concept.canonical_id in chain.restated:
        return "restates_answer"
    if concept.canonical_id in chain.implied:
        return "implied_by_answer"
    if concept.canonical_id in chain.near:
        return "near_type_of_answer"
    if clash(concept, chain.start) is not None:
        return "is_start"
    if concept.canonical_id in chain.restated_start:
        return "restates_start"
    if not concept.name:
        return "unnamed"
    if overlaps(concept, chain.answer):
        return "overlaps_answer"
    if c.kind == "peer" and (shares_word(concept.name, chain.answer.name)
                             or any(shares_word(s, e.name) for s in c.about for e in (chain.start, chain.answer))):
        return "peer_on_same_subject"
    # the chain's own concepts (TRUNC's stops) are named in that sentence by construction: it states the
    # last step from the one before
    on_chain = any(concept.canonical_id == c.canonical_id for c in chain.concepts)
    if not on_chain and named_in(concept, chain.answer_evidence):
        return "stated_with_answer"
    for other in chosen:
        why = clash(concept, other.concept)
        if why is not None:
            return why
    return None
