"""Composed L3 chains: multi-step paths over the L2 relations of one document.

Extraction states chains inside one chunk, so nearly every extracted chain has a single step. The
method's CORE principle keeps synthesised data "contextualised within its source document's scope"
(docs/method.md); applied across chunks, that lets a chain join relations that the same document
states in different chunks. :func:`compose_chains` does so per discipline:

1. **read** the discipline's relations page by page (``compose_relations``: endpoints, merges, the
   chunk's document, section and position, evidence) and its multi-step chains (``compose_chains``);
2. **measure hubs**: a concept whose degree (over its merge class) is above both the
   ``hub_percentile``-th percentile of the discipline's degrees and ``hub_min_degree`` is a hub; a hub
   may start or end a chain but never sit inside one, where it would join unrelated topics;
3. **enumerate** simple directed paths of 2..``max_steps`` relations inside one section first, then
   across the sections of the document, each start concept with a bounded search budget; a path
   never visits a concept twice (compared by merge class) and its relation-type sequence must pass
   the compatibility table :data:`FOLLOWS` and the sequence rules below;
4. **select** greedily, longer before shorter and, among equally long, same-section before
   cross-section, then in text order: a deterministic order. Caps hold per start concept, per
   document and per relation; a path equal to or inside an extracted chain, or inside a chain
   already selected, adds nothing and is skipped;
5. **write** the chains (``origin="composed"``, provenance ``compose``/``compose-v1``, ids derived
   from their relation ids) through the :class:`~proda.schema.store.writer.GraphWriter`, link each
   to every chunk its steps come from, and delete composed chains of the discipline that no longer
   apply and that nothing refers to (``compose_delete_chains``). A rerun writes the same chains.

**Merges and concept ids.** Each chain records the concepts exactly as its relation edges join
them: ``concept_ids[i]`` is the subject of step i and the object of step i-1, the same node. Every
reader of a chain walks RELATION edges between those ids and none follows SAME_AS: the writer's
``chain_missing_steps``, the Tester's ``bench_chain_steps`` (a step counts only when its edge joins
the recorded ids), ``bench_reach`` (the proof that the answer, and no distractor, is reached from the
start by the chain's types) and ``bench_invrel``. A path that needed a SAME_AS hop, entering a
duplicate concept and leaving its canonical one, would be refused by the writer and, forced in, be
reported broken by the Tester and have an unreachable answer. So a junction is one node, and merges
are applied where they are safe: a path may not visit two concepts of one merge class, and hub
degrees are counted per merge class. Junctions that only a merge connects are counted
(``merge_junctions``) so the gain of merge-aware Tester queries can be measured. With that, the
structural check's broken-chain count (relation ids that no longer resolve) is 0 for composed
chains by construction: every step is an edge read from the graph and verified again by the writer.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from proda.errors import ConfigError, InputError
from proda.pipelines.extract.heuristic import concept_key
from proda.pipelines.extract.resolve_candidates import name_words, roots
from proda.recipes import FromRecipe
from proda.schema.models import Chain, Provenance
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter

ORIGIN = "composed"
PROVENANCE = Provenance(extractor="compose", prompt_version="compose-v3")
MAX_STEPS = 6  # the Tester's distractor and proof queries are written out for 1..6 steps
EVIDENCE_JOIN = " … "

# --- which relation type may follow which -----------------------------------------------------------
#
# A chain is asked as one walk ("price increases X1, X1 causes X2 ... which concept is X2?"), so each
# step must say something about the previous step's object that carries the argument forward. The
# table lists, for the type of one step, the types the next step may have. Types a discipline adds
# to the vocabulary are not in it and are never composed: nobody has judged how they chain.

_CAUSAL = frozenset({"causes", "prevents", "increases", "decreases"})
# contrasts_with is never composed: a contrast turns to another concept, and an audit of composed chains
# found no chain through or after one that still read as one argument about its start
EVERY: frozenset[str] = _CAUSAL | {
    "is_a", "part_of", "has_part", "requires", "enables", "precedes", "follows", "defined_as", "example_of",
    "measured_by", "used_for"}

# An allow-list: the next step must say something that carries over from the start ("A r1 B, B r2 C"
# licenses a statement about A and C). It was narrowed after reading 100 composed chains, where
# classification after an effect (increases -> is_a), a part or a need after anything but its own kind
# (x -> part_of, x -> requires), and "allows" followed by a decrease read as no argument at all.
_KIND_OF = _CAUSAL | {"is_a", "part_of", "has_part", "requires", "enables", "used_for", "measured_by", "defined_as"}
FOLLOWS: Mapping[str, frozenset[str]] = {
    # a kind, or an example, has what its class has: parents, parts, effects, needs, uses, measures; but
    # what a class "includes" after one of its examples is mostly another member (a sibling), not a part
    # (read in a second audit of 100 composed chains: 8 of the 11 example_of -> has_part chains)
    "is_a": _KIND_OF,
    "example_of": _KIND_OF - {"has_part"},
    # wholes and parts are transitive, and a part of a kind of thing is a part of that thing
    "part_of": frozenset({"part_of", "is_a"}),
    "has_part": frozenset({"has_part"}),
    # effects propagate (tracking the sign is the reasoning asked for)
    **{t: _CAUSAL for t in _CAUSAL},
    # what something makes possible, it can bring about; "allows" then "reduces" read as the opposite
    "enables": frozenset({"causes", "increases", "enables"}),
    # needs and time run one way, and only through their own kind
    "requires": frozenset({"requires"}),
    "precedes": frozenset({"precedes"}),
    "follows": frozenset({"follows"}),
    # what serves a purpose brings about that purpose's effects
    "used_for": _CAUSAL | {"enables"},
    # a measure's own effects are not effects of what it measures; a definition glosses a term
    "measured_by": frozenset(),
    "defined_as": frozenset(),
}

TERMINAL = frozenset({"defined_as"})
"""Types allowed only as the last step: what follows a gloss is about the gloss, not the argument."""

ENDS_ONLY: frozenset[str] = frozenset()
"""Types allowed only as the first or the last step (none since contrasts are not composed)."""

AT_MOST_ONCE: frozenset[str] = frozenset()
"""Types allowed once per chain."""


def can_follow(types: Sequence[str], nxt: str) -> bool:
    """Whether a chain whose steps have ``types`` may be extended by a step of type ``nxt``.

    The rules are prefix-closed (no extension of a refused sequence is allowed), so a path search can
    prune at the first refusal.
    """
    if nxt not in FOLLOWS:
        return False
    if not types:
        return True
    last = types[-1]
    if nxt not in FOLLOWS.get(last, frozenset()) or last in TERMINAL:
        return False
    if last in ENDS_ONLY and len(types) > 1:  # it would sit inside the chain
        return False
    return not (nxt in AT_MOST_ONCE and nxt in types)


def allowed(types: Sequence[str]) -> bool:
    """Whether a whole relation-type sequence reads as one argument (the table and sequence rules)."""
    return bool(types) and all(can_follow(types[:i], t) for i, t in enumerate(types))


# --- configuration ----------------------------------------------------------------------------------


@dataclass
class ComposeConfig(FromRecipe):
    """What ``proda compose`` does. Every field has help; defaults < recipe < flags."""

    discipline: str | None = field(default=None, metadata={"help": "only this discipline (default: all)"})
    max_steps: int = field(default=5, metadata={
        "help": f"longest composed chain, in relation steps (2 to {MAX_STEPS}); every chain has at least 2"})
    scope: str = field(default="document", metadata={
        "help": "section: paths stay inside one section of a document; document: same-section paths first, "
                "then paths across the sections of one document"})
    max_per_start: int = field(default=2, metadata={
        "help": "most composed chains starting at one concept within one document, so one well-connected "
                "concept does not supply every question"})
    max_per_document: int = field(default=100, metadata={"help": "most composed chains per document"})
    max_chains_per_relation: int = field(default=2, metadata={
        "help": "most composed chains one relation may be a step of (spreads chains over the document "
                "instead of stacking variants of one path)"})
    hub_percentile: float = field(default=99.0, metadata={
        "help": "a concept whose degree (relations in and out, over its merge class) is above this percentile "
                "of the discipline's degrees and above hub_min_degree is a hub: it may start or end a chain, "
                "never sit inside one"})
    hub_min_degree: int = field(default=20, metadata={
        "help": "degree floor of a hub, so a small or flat discipline has none"})
    search_budget: int = field(default=2000, metadata={
        "help": "most path extensions tried from one start concept per section (and per document); bounds "
                "the search in dense documents"})
    junction_words: int = field(default=2, metadata={
        "help": "a concept named by fewer words joins only steps of one chunk: one word (\"risk\", \"output\") "
                "often means one thing in one passage and another in the next; 0 lets any concept join any steps"})
    named_junctions: bool = field(default=True, metadata={
        "help": "a concept joins two steps only where both steps' evidence sentences name it: a junction a "
                "pronoun stands for (\"these include ...\", \"it consists of ...\") often means another thing "
                "than the sentence before"})
    page_size: int = field(default=5000, metadata={"help": "concepts (or chains) per read round trip"})
    batch_size: int = field(default=2000, metadata={"help": "chains per write batch"})

    def __post_init__(self) -> None:
        if not 2 <= self.max_steps <= MAX_STEPS:
            raise ConfigError(f"max_steps must be between 2 and {MAX_STEPS} (a composed chain has at least two "
                              "steps; the Tester reads at most six)")
        if self.scope not in ("section", "document"):
            raise ConfigError(f"scope must be section or document, got {self.scope!r}")
        for name in ("max_per_start", "max_per_document", "max_chains_per_relation", "search_budget",
                     "page_size", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if not 0.0 <= self.hub_percentile <= 100.0:
            raise ConfigError("hub_percentile must be between 0 and 100")
        if self.hub_min_degree < 1:
            raise ConfigError("hub_min_degree must be at least 1")


# --- reports ----------------------------------------------------------------------------------------


@dataclass
class DisciplineCompose:
    """What composition did (or, in a dry run, would do) in one discipline."""

    discipline: str
    phase: str = "reading"
    relations: int = 0  # fresh relations read
    documents: int = 0  # documents with at least one composable relation
    relations_without_document: int = 0  # chunk deleted or unknown: never composed
    unknown_type_relations: int = 0  # types outside the compatibility table: never composed
    hubs: int = 0
    hub_threshold: float = 0.0
    hub_blocks: int = 0  # path extensions refused because a hub would sit inside the chain
    one_word_blocks: int = 0  # junctions refused: a one-word concept joining steps of two chunks
    unnamed_blocks: int = 0  # junctions refused: a concept one of the two joined sentences does not name
    merge_junctions: int = 0  # places where only a SAME_AS merge would join two relations (not composed)
    candidates: int = 0  # distinct paths found
    budget_exhausted: int = 0  # searches that hit search_budget
    skipped: dict[str, int] = field(default_factory=dict)  # candidates not selected, by reason
    chains: int = 0  # composed chains selected
    by_length: dict[int, int] = field(default_factory=dict)
    same_section: int = 0
    relations_covered: int = 0  # distinct relations on a composed chain
    written: int = 0
    unresolved: int = 0  # refused by the writer (a relation vanished during the run)
    removed: int = 0  # composed chains that no longer apply, deleted
    kept_referenced: int = 0  # composed chains that no longer apply but that an item or patch refers to
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)  # read, plan, write

    @property
    def covered_share(self) -> float | None:
        """Share of the discipline's relations that lie on a composed chain."""
        return self.relations_covered / self.relations if self.relations else None


@dataclass
class ComposeReport:
    """One entry per discipline."""

    disciplines: list[DisciplineCompose] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def chains(self) -> int:
        return sum(d.chains for d in self.disciplines)

    def by_length(self) -> dict[int, int]:
        out: Counter[int] = Counter()
        for d in self.disciplines:
            out.update(d.by_length)
        return dict(sorted(out.items()))


ProgressFn = Callable[[DisciplineCompose], None]


# --- the data composition works on --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rel:
    """One relation as composition sees it."""

    id: str
    type: str
    subject: str
    object: str
    chunk_id: str
    document_id: str
    section: str
    ordinal: int
    evidence: str


@dataclass
class Inputs:
    """One discipline's relations (with a document), merge classes and multi-step chains."""

    relations: list[Rel] = field(default_factory=list)
    root: dict[str, str] = field(default_factory=dict)  # concept id -> its merge class (canonical id)
    words: dict[str, int] = field(default_factory=dict)  # concept id -> words in its name
    names: dict[str, str] = field(default_factory=dict)  # concept id -> its name
    extracted: list[tuple[str, ...]] = field(default_factory=list)  # relation ids of extracted multi-step chains
    composed: dict[str, int] = field(default_factory=dict)  # existing composed chain id -> nodes referring to it
    without_document: int = 0
    fresh: int = 0  # relations read (with or without a document)


@dataclass(frozen=True)
class Path:
    """A candidate chain: indices into the discipline's relation list."""

    steps: tuple[int, ...]
    same_section: bool


@dataclass
class Plan:
    """The chains one discipline should have."""

    chains: list[Chain] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # existing composed chain ids not planned any more


def read_inputs(store: GraphStore, discipline: str, page_size: int) -> Inputs:
    """Read one discipline's relations and multi-step chains in pages (no per-element round trip)."""
    inputs = Inputs()
    merged: dict[str, str | None] = {}
    after: str | None = None
    while True:
        rows = store.query("compose_relations", {"discipline": discipline, "after": after, "limit": page_size})
        if not rows:
            break
        for r in rows:
            merged.setdefault(r["subject_id"], r["subject_merged_into"])
            if r["relation_id"] is None:
                continue
            merged.setdefault(r["object_id"], r["object_merged_into"])
            for side in ("subject", "object"):
                name = str(r.get(f"{side}_name") or "")
                inputs.words[r[f"{side}_id"]] = name_words(name)
                inputs.names[r[f"{side}_id"]] = name
            inputs.fresh += 1
            if r["document_id"] is None:
                inputs.without_document += 1
                continue
            inputs.relations.append(Rel(
                id=r["relation_id"], type=r["type"], subject=r["subject_id"], object=r["object_id"],
                chunk_id=r["chunk_id"], document_id=r["document_id"], section=r["section"] or "",
                ordinal=int(r["ordinal"] or 0), evidence=(r["evidence"] or "").strip()))
        subjects = {r["subject_id"] for r in rows}
        if len(subjects) < page_size:  # the last page
            break
        after = max(subjects)
    for target in [t for t in merged.values() if t is not None and t not in merged]:
        merged[target] = None  # a canonical concept that is on no relation is still a merge class
    inputs.root = roots(merged)
    after = None
    while True:
        rows = store.query("compose_chains", {"discipline": discipline, "after": after, "limit": page_size})
        if not rows:
            break
        for r in rows:
            if r["origin"] == ORIGIN:
                inputs.composed[r["id"]] = int(r["refs"])
            else:
                inputs.extracted.append(tuple(r["relation_ids"]))
        after = rows[-1]["id"]
        if len(rows) < page_size:
            break
    return inputs


def hub_threshold(degrees: Iterable[int], percentile: float, floor: int) -> float:
    """The degree above which a concept is a hub: the larger of the ``percentile``-th percentile (linear
    interpolation between closest ranks) and ``floor``."""
    xs = sorted(degrees)
    if not xs:
        return float(floor)
    k = (len(xs) - 1) * percentile / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return max(float(floor), xs[lo] + (xs[hi] - xs[lo]) * (k - lo))


def degree_hubs(rels: Sequence[Rel], root: Mapping[str, str], cfg: ComposeConfig) -> tuple[set[str], float]:
    """Merge classes whose degree in the discipline is an outlier, and the threshold used.

    Composition's own rule, over the relations it composes; entity resolution's hubs
    (:func:`proda.pipelines.extract.resolve_embed.find_hubs`) also count generic one-word names, which
    composition keeps to one chunk through ``junction_words``.
    """
    degree: Counter[str] = Counter()
    for r in rels:
        degree[root.get(r.subject, r.subject)] += 1
        degree[root.get(r.object, r.object)] += 1
    threshold = hub_threshold(degree.values(), cfg.hub_percentile, cfg.hub_min_degree)
    return {c for c, d in degree.items() if d > threshold}, threshold


class _Search:
    """Simple directed paths over one group of relations (a section, or a whole document)."""

    def __init__(self, rels: Sequence[Rel], members: Sequence[int], root: Mapping[str, str], hubs: set[str],
                 cfg: ComposeConfig, stats: DisciplineCompose, short: Set[str] = frozenset(),
                 named: Callable[[str, int], bool] | None = None) -> None:
        self.rels, self.root, self.hubs, self.cfg, self.stats = rels, root, hubs, cfg, stats
        self.short = short  # concepts whose names are too short to join steps of two chunks
        self.named = named  # (concept, relation index) -> whether that relation's evidence names the concept
        self.out: dict[str, list[int]] = defaultdict(list)
        for i in sorted(members, key=lambda i: (rels[i].ordinal, rels[i].id)):  # text order, then id
            if rels[i].type in FOLLOWS:
                self.out[rels[i].subject].append(i)
        self.budget = 0

    def paths(self) -> Iterator[tuple[int, ...]]:
        for start in sorted(self.out):
            self.budget = self.cfg.search_budget
            yield from self._extend(start, (), (self.root.get(start, start),), ())
            if self.budget <= 0:
                self.stats.budget_exhausted += 1

    def _extend(self, node: str, path: tuple[int, ...], seen: tuple[str, ...],
                types: tuple[str, ...]) -> Iterator[tuple[int, ...]]:
        if len(path) >= self.cfg.max_steps:
            return
        if path and seen[-1] in self.hubs:  # node would sit inside the chain
            self.stats.hub_blocks += bool(self.out.get(node))
            return
        for i in self.out.get(node, ()):
            if self.budget <= 0:
                return
            r = self.rels[i]
            nxt = self.root.get(r.object, r.object)
            if nxt in seen or not can_follow(types, r.type):
                continue
            # a one-word junction ("foods", "risk", "output") often means one thing in one passage and
            # another in the next (the chain audit's main composition error): it joins steps of one chunk only
            if path and node in self.short and self.rels[path[-1]].chunk_id != r.chunk_id:
                self.stats.one_word_blocks += 1
                continue
            if path and self.named is not None and not (self.named(node, path[-1]) and self.named(node, i)):
                self.stats.unnamed_blocks += 1
                continue
            self.budget -= 1
            step = (*path, i)
            if len(step) >= 2:
                yield step
            yield from self._extend(r.object, step, (*seen, nxt), (*types, r.type))


_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def _forms(word: str) -> set[str]:
    """The keys one word is known by: its :func:`~.heuristic.concept_key` (a naive singular), a plural in
    "-es" without it ("surpluses"), and a gerund's stem ("producing": "produce", "produc")."""
    forms = {concept_key(word)}
    if word.endswith("es"):
        forms.add(word[:-2])
    if word.endswith("ing") and len(word) > 5:
        forms.update((word[:-3], word[:-3] + "e"))
    return forms


class _Naming:
    """Whether a relation's evidence sentence names a concept: every word of the concept's name occurs in it
    in one of its :func:`_forms` (singular or plural, a gerund as its verb). Sentences and names are split
    into words once, when first asked."""

    def __init__(self, inputs: Inputs) -> None:
        self.rels, self.names = inputs.relations, inputs.names
        self._words: dict[int, set[str]] = {}
        self._name_forms: dict[str, list[set[str]]] = {}

    def named(self, concept: str, rel: int) -> bool:
        words = self._words.get(rel)
        if words is None:
            words = self._words[rel] = {f for w in _WORD.findall(self.rels[rel].evidence.casefold()) for f in _forms(w)}
        name = self.names.get(concept, "")
        forms = self._name_forms.get(concept)
        if forms is None:
            forms = self._name_forms[concept] = [_forms(w) for w in _WORD.findall(name.casefold())]
        return bool(name) and all(f & words for f in forms)


def _subpaths(ids: Sequence[str]) -> Iterator[tuple[str, ...]]:
    """Every contiguous run of at least two relation ids, the whole sequence included."""
    n = len(ids)
    for a in range(n - 1):
        for b in range(a + 2, n + 1):
            yield tuple(ids[a:b])


def merge_junctions(rels: Sequence[Rel], members: Sequence[int], root: Mapping[str, str]) -> int:
    """Pairs (x, y) of distinct concepts of one merge class where a relation of the group ends at x and
    another leaves y: a path would need a SAME_AS hop there, which composed chains do not take."""
    ins: dict[str, set[str]] = defaultdict(set)
    outs: dict[str, set[str]] = defaultdict(set)
    for i in members:
        r = rels[i]
        ins[root.get(r.object, r.object)].add(r.object)
        outs[root.get(r.subject, r.subject)].add(r.subject)
    return sum(len(xs) * len(outs[c]) - len(xs & outs[c]) for c, xs in ins.items() if c in outs)


def plan_discipline(discipline: str, inputs: Inputs, cfg: ComposeConfig, stats: DisciplineCompose) -> Plan:
    """The composed chains of one discipline from what :func:`read_inputs` read (no graph access)."""
    rels = inputs.relations
    root = inputs.root
    short = {c for c, n in inputs.words.items() if n < cfg.junction_words}
    named = _Naming(inputs).named if cfg.named_junctions else None
    stats.relations = inputs.fresh
    stats.relations_without_document = inputs.without_document
    stats.unknown_type_relations = sum(1 for r in rels if r.type not in FOLLOWS)
    hubs, stats.hub_threshold = degree_hubs(rels, root, cfg)
    stats.hubs = len(hubs)
    by_doc: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rels):
        by_doc[r.document_id].append(i)
    stats.documents = len(by_doc)

    blocked: set[tuple[str, ...]] = set()  # paths an extracted chain already states (or contains)
    for ids in inputs.extracted:
        blocked.update(_subpaths(ids))
    uses: Counter[int] = Counter()
    skipped: Counter[str] = Counter()
    plan = Plan()
    for doc in sorted(by_doc):
        members = by_doc[doc]
        found: dict[tuple[int, ...], Path] = {}
        sections: dict[str, list[int]] = defaultdict(list)
        for i in members:
            sections[rels[i].section].append(i)
        groups = [sections[s] for s in sorted(sections)]
        if cfg.scope == "document":
            stats.merge_junctions += merge_junctions(rels, members, root)
            if len(groups) > 1:
                groups.append(members)  # then across sections
        else:
            stats.merge_junctions += sum(merge_junctions(rels, g, root) for g in groups)
        for group in groups:
            for steps in _Search(rels, group, root, hubs, cfg, stats, short, named).paths():
                if steps not in found:
                    found[steps] = Path(steps, len({rels[i].section for i in steps}) == 1)
        stats.candidates += len(found)
        # longest first, so a selected chain blocks its own sub-paths; among equally long, same-section first
        ranked = sorted(found.values(), key=lambda p: (-len(p.steps), not p.same_section,
                                                       [rels[i].ordinal for i in p.steps],
                                                       [rels[i].id for i in p.steps]))
        per_start: Counter[str] = Counter()
        in_doc = 0
        for p in ranked:
            ids = tuple(rels[i].id for i in p.steps)
            start = rels[p.steps[0]].subject
            if ids in blocked:
                skipped["inside_another_chain"] += 1
            elif in_doc >= cfg.max_per_document:
                skipped["max_per_document"] += 1
            elif per_start[start] >= cfg.max_per_start:
                skipped["max_per_start"] += 1
            elif any(uses[i] >= cfg.max_chains_per_relation for i in p.steps):
                skipped["max_chains_per_relation"] += 1
            else:
                plan.chains.append(_chain(discipline, [rels[i] for i in p.steps]))
                blocked.update(_subpaths(ids))
                uses.update(p.steps)
                per_start[start] += 1
                in_doc += 1
                stats.same_section += p.same_section
    stats.skipped = dict(sorted(skipped.items()))
    stats.chains = len(plan.chains)
    stats.by_length = dict(sorted(Counter(len(c.relation_ids) for c in plan.chains).items()))
    stats.relations_covered = len(uses)
    planned = {c.id for c in plan.chains}
    plan.stale = sorted(cid for cid in inputs.composed if cid not in planned)
    return plan


def _chain(discipline: str, steps: Sequence[Rel]) -> Chain:
    evidence: list[str] = []
    for r in steps:
        if r.evidence and r.evidence not in evidence:
            evidence.append(r.evidence)
    return Chain(discipline=discipline, relation_ids=[r.id for r in steps],
                 concept_ids=[steps[0].subject, *(r.object for r in steps)],
                 relation_types=[r.type for r in steps], chunk_id=steps[0].chunk_id,
                 evidence=EVIDENCE_JOIN.join(evidence), origin=ORIGIN, provenance=PROVENANCE)


def write_plan(store: GraphStore, plan: Plan, steps_chunks: Mapping[str, Sequence[str]], batch_size: int,
               stats: DisciplineCompose) -> None:
    """Write the planned chains, link them to every chunk of their steps, delete the stale ones."""
    writer = GraphWriter(store, batch_size=batch_size)
    for start in range(0, len(plan.chains), batch_size):
        batch = plan.chains[start:start + batch_size]
        result = writer.write(batch)
        stats.written += result.written["chain"]
        stats.unresolved += len(result.unresolved)
        # the writer links a chain to its first step's chunk; a composed chain comes from several
        links = [{"chain_id": c.id, "chunk_id": k} for c in batch if c.id not in result.unresolved
                 for k in steps_chunks[c.id] if k != c.chunk_id]
        if links:
            store.query("link_chain_chunks", {"rows": links})
    for start in range(0, len(plan.stale), batch_size):
        ids = plan.stale[start:start + batch_size]
        rows = store.query("compose_delete_chains", {"ids": ids})
        deleted = int(rows[0]["deleted"]) if rows else 0
        stats.removed += deleted
        stats.kept_referenced += len(ids) - deleted


def disciplines_to_compose(store: GraphStore, discipline: str | None) -> list[str]:
    """The disciplines with relations (or ``discipline``); raises :class:`InputError` when it has none."""
    rows = store.query("discipline_counts", {"discipline": discipline})
    known = sorted({r["discipline"] for r in rows if r["element"] == "relations" and r["discipline"]
                    and int(r["count"])})
    if discipline is not None and discipline not in known:
        raise InputError(f"discipline {discipline!r} has no L2 relations in the graph; nothing to compose")
    return known


def compose_discipline(store: GraphStore, discipline: str, config: ComposeConfig, *,
                       progress: ProgressFn | None = None, dry_run: bool = False) -> DisciplineCompose:
    """Compose (or, with ``dry_run``, plan) the chains of one discipline; returns its figures."""
    started = time.perf_counter()
    stats = DisciplineCompose(discipline=discipline)
    if progress is not None:
        progress(stats)
    inputs = read_inputs(store, discipline, config.page_size)
    stats.phase_seconds["read"] = time.perf_counter() - started
    stats.phase = "planning"
    if progress is not None:
        progress(stats)
    t = time.perf_counter()
    plan = plan_discipline(discipline, inputs, config, stats)
    stats.phase_seconds["plan"] = time.perf_counter() - t
    if not dry_run:
        stats.phase = "writing"
        if progress is not None:
            progress(stats)
        t = time.perf_counter()
        chunk_of = {r.id: r.chunk_id for r in inputs.relations}
        steps_chunks = {c.id: list(dict.fromkeys(chunk_of[rid] for rid in c.relation_ids)) for c in plan.chains}
        write_plan(store, plan, steps_chunks, config.batch_size, stats)
        stats.phase_seconds["write"] = time.perf_counter() - t
    else:
        stats.removed = sum(1 for cid in plan.stale if inputs.composed[cid] == 0)
        stats.kept_referenced = len(plan.stale) - stats.removed
    stats.phase = "done"
    stats.seconds = time.perf_counter() - started
    if progress is not None:
        progress(stats)
    return stats


def compose_chains(store: GraphStore, config: ComposeConfig, *, progress: ProgressFn | None = None,
                   dry_run: bool = False) -> ComposeReport:
    """Compose multi-step chains from each discipline's documents (``config.discipline``, or all).

    ``progress`` is called with the discipline's figures as it reads, plans, writes and finishes. With
    ``dry_run`` nothing is written or deleted and the report says what would be. Raises
    :class:`InputError` when the named discipline has no relations, and the store's errors.
    """
    started = time.perf_counter()
    report = ComposeReport(dry_run=dry_run)
    for d in disciplines_to_compose(store, config.discipline):
        report.disciplines.append(compose_discipline(store, d, config, progress=progress, dry_run=dry_run))
    report.seconds = time.perf_counter() - started
    return report


def report_dict(report: ComposeReport) -> dict[str, Any]:
    """The report as plain data (JSON output, services)."""
    from dataclasses import asdict

    return {"dry_run": report.dry_run, "seconds": report.seconds, "chains": report.chains,
            "by_length": report.by_length(),
            "disciplines": [{**asdict(d), "covered_share": d.covered_share} for d in report.disciplines]}
