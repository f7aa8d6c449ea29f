"""Entity resolution by meaning: concept names whose sentence embeddings nearly coincide, and hubs.

Beside the string rules of :mod:`~proda.pipelines.extract.resolve_candidates` (exact, match_key,
fuzzy), two names of one discipline may say the same thing in other words ("rate of unemployment" /
"unemployment rate", "cost of opportunity" / "opportunity cost"). Each active concept's name is
embedded with all-MiniLM-L6-v2 (:mod:`proda.pipelines.embedding`, offline) and stored on the node
(``embedding``, plus ``embedding_key``: model and name hash, so an unchanged name is never embedded
twice); the graph's vector index answers each concept's nearest neighbours, a batch of concepts per
round trip; a pair whose cosine similarity reaches the threshold becomes an ``embedding`` candidate,
the weakest evidence, assigned after the string rules, merged and undone like any other
(:func:`~proda.pipelines.extract.resolve.merge`, ``proda merges --undo``).

Similar is not the same: embeddings put "supply curve" near "demand curve", "loop" near "for loop"
and "short-term loan" near "long-term loan". So a pair is never proposed where the string rules say
two names differ (:func:`~proda.pipelines.extract.resolve_candidates.fuzzy_blocked`), where one name
adds words to the other, where they differ in a number, an opposite, a modifier of the same head noun
or a word spelled alike (:func:`embedding_blocked`), where either name is an acronym or very short
(those merge only exactly), or where either concept is a hub; and where the names share words, the
words that differ must be near-synonyms themselves (:func:`embedding_pairs`). What remains is mostly
the same words in another order ("balance of trade" / "trade balance") and synonyms ("lawyers" /
"attorneys", "investment spending" / "investment expenditure"): few merges, rarely wrong
(benchmarks/results/embedding_merge_audit.jsonl).

A hub is a concept that many others attach to without naming anything specific: a single generic
English noun ("process", "people", "other factors") or a concept whose relation degree is an outlier
of its discipline. Hubs glue unrelated parts of the graph into one component, so they are never merged
by embeddings, and :func:`components_without_hubs` measures how much of the giant component rests on
them (``proda check`` reports the share with and without hubs).
"""

from __future__ import annotations

import hashlib
import logging
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from proda.errors import ConfigError, GraphError, InputError
from proda.pipelines.extract.resolve import MergeRecord, merge
from proda.pipelines.extract.resolve_candidates import (
    COORDINATORS,
    DEFAULT_THRESHOLD,
    Candidate,
    Method,
    fuzzy_blocked,
    head_noun,
    keeps_roles,
    match_key_tokens,
    noun_phrase,
    plan_candidates,
    roots,
    usable_key,
)
from proda.schema.ddl import CONCEPT_EMBEDDING_INDEX
from proda.schema.ids import FUNCTION_WORDS, normalise_name
from proda.schema.store.base import ComponentStats, GraphStore
from proda.schema.store.components import components_from_edges

__all__ = [
    "DEFAULT_EMBEDDING_THRESHOLD",
    "DisciplineResolution",
    "EmbeddingPairs",
    "Hub",
    "HubFreeComponents",
    "ResolveResult",
    "components_without_hubs",
    "embedding_blocked",
    "embedding_key",
    "embedding_pairs",
    "ensure_embedding_index",
    "ensure_embeddings",
    "find_candidates_with_embeddings",
    "find_hubs",
    "hubs_from_rows",
    "is_generic",
    "resolve",
]

if TYPE_CHECKING:  # numpy arrives with the encoder; hub detection and the check need neither
    import numpy as np
    from numpy.typing import NDArray

    Encode = Callable[[Sequence[str]], NDArray[np.float32]]

log = logging.getLogger(__name__)

# Chosen on 179 nearest-neighbour pairs of the heuristic graph of the CC BY corpus, read and labelled by
# hand same / borderline / different (benchmarks/results/embedding_merge_audit.jsonl, one pair a line with
# its cosine, differing words and blocking reason). Of the pairs the rules let through, 9 reach both
# thresholds, all the same concept; at 0.85 one of 13 is wrong, at 0.80 six of 19, without the
# differing-words check at 0.88 one of 11: the target is at most 5% wrong merges.
DEFAULT_EMBEDDING_THRESHOLD = 0.88
DEFAULT_WORD_THRESHOLD = 0.7
# neighbours asked of the index per concept: it spans every discipline, and the same name in another
# discipline (or a merged duplicate) takes a slot before the filter drops it. Every neighbour that
# reaches the threshold is kept (no top-n cut): a cut would let a rerun, with fewer active concepts
# in the way, find pairs the first run skipped.
INDEX_K = 40
QUERY_BATCH = 256  # concepts per nearest-neighbour round trip
WRITE_BATCH = 500  # embeddings per write
ENCODE_BATCH = 2048  # names per encoder call (the encoder batches further inside)
INDEX_WAIT_S = 120.0

# A hub by name: a single general-English noun that names no particular thing. Compared on the
# singular match key, after leading determiners and quantifiers ("other factors", "many people").
GENERIC_NOUNS: frozenset[str] = frozenset({
    "thing", "way", "system", "process", "example", "people", "person", "individual", "type", "kind", "sort",
    "part", "factor", "aspect", "element", "feature", "area", "case", "amount", "problem", "issue", "result",
    "outcome", "idea", "information", "method", "approach", "use", "item", "question", "reason", "situation",
    "step", "stage", "term", "fact", "point", "change", "activity", "option", "benefit", "advantage",
    "disadvantage", "characteristic", "category", "component", "effect", "role", "purpose", "detail",
    "member", "practice", "effort", "circumstance", "matter", "stuff", "something", "anything", "everything",
    "lot",
})
_DETERMINERS: frozenset[str] = frozenset({
    "the", "a", "an", "this", "that", "these", "those", "other", "many", "much", "some", "several", "various",
    "different", "certain", "such", "all", "each", "every", "any", "more", "most", "few", "main", "major",
    "key", "important", "specific", "particular", "general", "similar", "same", "own", "new", "their", "its",
    "our", "your", "his", "her", "two", "three", "four", "five", "both",
})
_ARTICLES: frozenset[str] = frozenset({"the", "a", "an"})
# a number written as a word names a different quantity, as digits do
_NUMBER_WORDS: frozenset[str] = frozenset({
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "twenty", "hundred", "thousand", "million", "billion", "trillion", "first", "second", "third", "fourth",
    "fifth", "half", "quarter", "single", "double", "triple", "dozen",
})
# pairs of general-English opposites (singular match-key forms): embeddings put them close together
_OPPOSITES: tuple[tuple[str, str], ...] = (
    ("strong", "weak"), ("stronger", "weaker"), ("long", "short"), ("longer", "shorter"), ("high", "low"),
    ("higher", "lower"), ("large", "small"), ("larger", "smaller"), ("big", "small"), ("good", "bad"),
    ("good", "poor"), ("better", "worse"), ("rich", "poor"), ("public", "private"), ("male", "female"),
    ("man", "woman"), ("men", "women"), ("boy", "girl"), ("father", "mother"), ("son", "daughter"),
    ("husband", "wife"), ("brother", "sister"), ("increase", "decrease"), ("rise", "fall"), ("rise", "decline"),
    ("gain", "loss"), ("growth", "decline"), ("upward", "downward"), ("up", "down"), ("import", "export"),
    ("input", "output"), ("buyer", "seller"), ("buy", "sell"), ("buying", "selling"), ("lender", "borrower"),
    ("lend", "borrow"), ("debtor", "creditor"), ("employer", "employee"), ("teacher", "student"),
    ("parent", "child"), ("positive", "negative"), ("maximum", "minimum"), ("major", "minor"), ("first", "last"),
    ("early", "late"), ("before", "after"), ("past", "future"), ("old", "new"), ("old", "young"),
    ("fast", "slow"), ("hot", "cold"), ("warm", "cold"), ("heavy", "light"), ("open", "closed"),
    ("internal", "external"), ("domestic", "foreign"), ("inner", "outer"), ("north", "south"), ("east", "west"),
    ("left", "right"), ("top", "bottom"), ("upper", "lower"), ("start", "end"), ("beginning", "end"),
    ("win", "lose"), ("winner", "loser"), ("success", "failure"), ("true", "false"), ("more", "less"),
    ("most", "least"), ("full", "empty"), ("wet", "dry"), ("hard", "soft"), ("simple", "complex"),
    ("natural", "artificial"), ("urban", "rural"), ("local", "global"), ("national", "international"),
    ("primary", "secondary"), ("direct", "indirect"), ("absolute", "relative"), ("active", "passive"),
    ("official", "unofficial"), ("legal", "illegal"), ("present", "absent"), ("same", "different"),
    ("supplier", "customer"), ("producer", "consumer"), ("cause", "effect"),
)
_OPPOSITE_SET: frozenset[frozenset[str]] = frozenset(frozenset(p) for p in _OPPOSITES)
# a concept whose degree exceeds the discipline's mean by this many standard deviations is a hub,
# if its degree is also at least MIN_HUB_DEGREE (in a small graph a handful of edges is no outlier)
HUB_SIGMAS = 4.0
MIN_HUB_DEGREE = 5


@dataclass(frozen=True)
class Hub:
    """A concept blocked from embedding merges (and left out of the hub-free component figures).

    ``reason`` is ``generic`` (its name is a single generic noun) or ``degree`` (its degree is an
    outlier of its discipline: above ``cutoff``). ``degree`` and ``documents`` count the concept
    together with the duplicates merged into it; ``member_ids`` are those duplicates.
    """

    id: str
    name: str
    discipline: str
    degree: int
    documents: int
    reason: Literal["generic", "degree"]
    cutoff: float = 0.0
    member_ids: tuple[str, ...] = ()


def _content_tokens(name: str) -> list[str]:
    """The words of a name that carry content: a function word counts only where it leads ("for loop") or
    ends the name, which no article or preposition does ("immunoglobulin a": the a is a label)."""
    tokens = match_key_tokens(name)
    last = len(tokens) - 1
    return [t for i, t in enumerate(tokens)
            if t not in FUNCTION_WORDS or (i == 0 and t not in _ARTICLES) or (i == last and i > 0)]


def is_generic(name: str) -> bool:
    """Whether ``name`` is a single generic English noun, perhaps after determiners ("other factors")."""
    tokens = match_key_tokens(name)
    while len(tokens) > 1 and tokens[0] in _DETERMINERS:
        tokens = tokens[1:]
    return len(tokens) == 1 and (tokens[0] in GENERIC_NOUNS or tokens[0] in _DETERMINERS)


def degree_cutoff(degrees: Sequence[int]) -> float:
    """The degree above which a concept of a discipline with these degrees is a hub."""
    if len(degrees) < 2:
        return float("inf")
    mean, sd = statistics.fmean(degrees), statistics.pstdev(degrees)
    return max(mean + HUB_SIGMAS * sd, MIN_HUB_DEGREE - 0.5)


def hubs_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Hub]]:
    """Hubs per discipline from ``concept_hub_stats`` rows (pure); each list by degree, highest first.

    A merged group counts as one concept: the degrees of the duplicates merged into a concept are added
    to its own and its spread is the largest of theirs (a lower bound: the rows hold counts, not sets).
    The outlier cutoff comes from every concept's own degree, which merges leave unchanged (relations are
    not rewritten), so merging only ever adds hubs: a rerun never finds a pair that a hub blocked before.
    """
    by: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        by[str(r["discipline"])].append(r)
    out: dict[str, list[Hub]] = {}
    for discipline, group in sorted(by.items()):
        root = roots({str(r["id"]): r.get("merged_into") or None for r in group})
        degree: dict[str, int] = defaultdict(int)
        documents: dict[str, int] = defaultdict(int)
        members: dict[str, list[str]] = defaultdict(list)
        name: dict[str, str] = {}
        for r in group:
            cid, top = str(r["id"]), root[str(r["id"])]
            degree[top] += int(r.get("degree") or 0)
            documents[top] = max(documents[top], int(r.get("documents") or 0))
            if cid == top:
                name[cid] = str(r.get("name") or "")
            else:
                members[top].append(cid)
        cutoff = degree_cutoff([int(r.get("degree") or 0) for r in group])
        hubs: list[Hub] = []
        for cid, n in name.items():
            reason: Literal["generic", "degree"] | None = None
            if is_generic(n):
                reason = "generic"
            elif degree[cid] > cutoff:
                reason = "degree"
            if reason is not None:
                hubs.append(Hub(id=cid, name=n, discipline=discipline, degree=degree[cid], documents=documents[cid],
                                reason=reason, cutoff=cutoff, member_ids=tuple(sorted(members[cid]))))
        out[discipline] = sorted(hubs, key=lambda h: (-h.degree, -h.documents, h.id))
    return out


def find_hubs(store: GraphStore, discipline: str) -> list[Hub]:
    """The hubs of ``discipline`` (see :func:`hubs_from_rows`), highest degree first; reads the graph only."""
    return hubs_from_rows(store.query("concept_hub_stats", {"discipline": discipline})).get(discipline, [])


@dataclass(frozen=True)
class HubFreeComponents:
    """A discipline's components with and without its hubs (and the duplicates merged into them)."""

    discipline: str
    hubs: int
    with_hubs: ComponentStats
    without_hubs: ComponentStats | None  # None when every concept is a hub


def components_without_hubs(store: GraphStore, discipline: str | None = None,
                            method: str = "client-side union-find") -> list[HubFreeComponents]:
    """Connected components per discipline, once over every concept and once with the hubs removed.

    Both figures come from the same ``component_edges`` rows (SAME_AS links included), so the
    difference between the two giant-component shares is what the hubs hold together.
    """
    hubs = hubs_from_rows(store.query("concept_hub_stats", {"discipline": discipline}))
    edges = store.query("component_edges", {"discipline": discipline})
    excluded = {i for hs in hubs.values() for h in hs for i in (h.id, *h.member_ids)}
    with_hubs = {c.discipline: c for c in components_from_edges(edges, method=method)}
    without = {c.discipline: c for c in components_from_edges(edges, method=method, exclude=excluded)}
    return [HubFreeComponents(discipline=d, hubs=len(hubs.get(d, [])), with_hubs=c, without_hubs=without.get(d))
            for d, c in sorted(with_hubs.items())]


# --- embeddings ---------------------------------------------------------------------------------------


def embedding_key(name: str, model: str) -> str:
    """Which model embedded which (normalised) name: a stored embedding is reused while this is unchanged."""
    digest = hashlib.sha256(normalise_name(name).encode()).hexdigest()[:16]
    return f"{model}:{digest}"


def _default_encode(texts: Sequence[str]) -> NDArray[np.float32]:
    from proda.pipelines import embedding

    return embedding.encode(texts)


def _default_model() -> str:
    from proda.pipelines import embedding

    return embedding.model_id()


def ensure_embeddings(store: GraphStore, discipline: str, *, encode: Encode | None = None,
                      model: str | None = None) -> int:
    """Embed the names of ``discipline``'s active concepts that lack an up-to-date embedding; returns how many.

    An embedding is up to date while its ``embedding_key`` (model and normalised name) is unchanged,
    so a rerun embeds only new or renamed concepts.
    """
    encode = encode or _default_encode
    model = model or _default_model()
    rows = store.query("concept_embedding_keys", {"discipline": discipline})
    stale = [(str(r["id"]), str(r["name"] or "")) for r in rows
             if r.get("embedding_key") != embedding_key(str(r["name"] or ""), model)]
    stale = [(cid, name) for cid, name in stale if name.strip()]
    for start in range(0, len(stale), ENCODE_BATCH):
        part = stale[start:start + ENCODE_BATCH]
        vectors = encode([name for _, name in part])
        if vectors.shape[1] != CONCEPT_EMBEDDING_INDEX.dimension:
            raise ConfigError(f"the encoder gives {vectors.shape[1]}-dimensional vectors; the concept vector "
                             f"index holds {CONCEPT_EMBEDDING_INDEX.dimension}")
        out = [{"id": cid, "embedding": [float(x) for x in vec], "embedding_key": embedding_key(name, model)}
               for (cid, name), vec in zip(part, vectors, strict=True)]
        for k in range(0, len(out), WRITE_BATCH):
            store.query("set_concept_embeddings", {"rows": out[k:k + WRITE_BATCH]})
    return len(stale)


def ensure_embedding_index(store: GraphStore, *, wait_s: float = INDEX_WAIT_S) -> None:
    """Create the vector index on ``Concept.embedding`` unless it exists, and wait until it answers.

    Raises :class:`GraphError` when the index has another dimension or does not come online in time.
    """
    rows = store.query("concept_embedding_index")
    if not rows:
        try:
            store.run(CONCEPT_EMBEDDING_INDEX.statement(store.backend), read_only=False)
        except GraphError:
            if not store.query("concept_embedding_index"):  # not another process creating it meanwhile
                raise
        rows = store.query("concept_embedding_index")
    deadline = time.monotonic() + wait_s
    while True:
        if not rows:
            raise GraphError("the vector index on Concept.embedding was created but is not listed")
        dimension = rows[0].get("dimension")
        if dimension is not None and int(dimension) != CONCEPT_EMBEDDING_INDEX.dimension:
            raise GraphError(f"the vector index on Concept.embedding has {dimension} dimensions, not "
                             f"{CONCEPT_EMBEDDING_INDEX.dimension}; drop it to let entity resolution recreate it")
        if rows[0].get("online"):
            return
        if time.monotonic() > deadline:
            raise GraphError(f"the vector index on Concept.embedding is not online after {wait_s:.0f} s")
        time.sleep(0.2)
        rows = store.query("concept_embedding_index")


def nearest_neighbours(store: GraphStore, ids: Sequence[str], *, k: int = INDEX_K,
                       min_cosine: float = 0.0) -> dict[tuple[str, str], float]:
    """Cosine similarity of each concept to its nearest active neighbours of the same discipline that
    reach ``min_cosine`` (among the ``k`` nearest in the whole index).

    One ``concept_embedding_neighbours`` round trip per :data:`QUERY_BATCH` concepts. Pairs are keyed
    (smaller id, larger id), found from either side.
    """
    found: dict[tuple[str, str], float] = {}
    for start in range(0, len(ids), QUERY_BATCH):
        rows = store.query("concept_embedding_neighbours",
                           {"ids": list(ids[start:start + QUERY_BATCH]), "k": k, "min_cosine": min_cosine})
        for r in rows:
            a, b = str(r["id"]), str(r["neighbour_id"])
            pair = (a, b) if a < b else (b, a)
            found[pair] = max(found.get(pair, -1.0), min(1.0, float(r["cosine"])))
    return found


def differing_words(name_a: str, name_b: str) -> tuple[str, str]:
    """The content words each name has that the other lacks, in their order ("investment spending" /
    "investment expenditure": "spending", "expenditure"); both empty for the same words."""
    ta, tb = _content_tokens(name_a), _content_tokens(name_b)
    extra_a, extra_b = Counter(ta) - Counter(tb), Counter(tb) - Counter(ta)

    def keep(tokens: list[str], extra: Counter[str]) -> str:
        out = []
        for t in tokens:
            if extra[t] > 0:
                extra[t] -= 1
                out.append(t)
        return " ".join(out)

    return keep(ta, extra_a), keep(tb, extra_b)


def _common_length(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _spelled_alike(a: str, b: str) -> bool:
    """Two different words with a long common beginning or ending: one stem ("borrower" / "borrowing") or
    other prefixes ("hyperpolarization" / "depolarization"). The encoder sees such words through shared
    word pieces, so its similarity is the spelling's, not the meaning's."""
    shared = max(_common_length(a, b), _common_length(a[::-1], b[::-1]))
    return shared >= 4 and shared >= 0.4 * min(len(a), len(b))


def embedding_blocked(name_a: str, name_b: str) -> str | None:
    """Why two names close in embedding space are still not the same concept, or None.

    Embeddings place related names together whether they mean the same or name two kinds of one
    thing, so only differences that usually keep the meaning pass:

    - ``short``: an acronym or very short name (those merge only exactly);
    - ``narrower``: one name's content words are a strict subset of the other's ("loop" / "for loop");
    - ``coordination``: a name joins two ("productivity and output");
    - ``number``: a different number, in digits or in words ("three tons" / "five tons");
    - ``rule``: the string rules say they differ (:func:`fuzzy_blocked`: short tokens, contrasting
      prefixes, affixes);
    - ``opposite``: a pair of general-English opposites ("short-term loan" / "long-term loan");
    - ``spelling``: words spelled alike ("borrower" / "borrowing", "hyperpolarization" /
      "depolarization"), unless the names share their head and one stem moves from modifier to
      complement ("technological change" / "changes in technology");
    - ``modifier``: the same head noun with other modifiers ("great recession" / "recent recession");
    - ``roles``: the same words, but another head or swapped roles after a preposition ("cells of body" /
      "cell body"; :func:`~proda.pipelines.extract.resolve_candidates.keeps_roles`).

    What remains: the same words in another order, or another head noun ("investment spending" /
    "investment expenditure") or other words altogether ("lawyer" / "attorney").
    """
    key_a, key_b = usable_key(name_a), usable_key(name_b)
    if key_a is None or key_b is None:
        return "short"
    if COORDINATORS & (set(key_a.split()) | set(key_b.split())):
        return "coordination"
    bag_a, bag_b = Counter(_content_tokens(name_a)), Counter(_content_tokens(name_b))
    if bag_a == bag_b:
        return None if keeps_roles(name_a, name_b, same_words=True) else "roles"
    if bag_a < bag_b or bag_b < bag_a:
        return "narrower"
    only_a, only_b = set(bag_a - bag_b), set(bag_b - bag_a)
    if {w for w in only_a | only_b if w in _NUMBER_WORDS or any(ch.isdigit() for ch in w)}:
        return "number"
    if fuzzy_blocked(" ".join(sorted(key_a.split())), " ".join(sorted(key_b.split()))):
        return "rule"
    if any(frozenset((a, b)) in _OPPOSITE_SET for a in only_a for b in only_b):
        return "opposite"
    alike = [(a, b) for a in only_a for b in only_b if _spelled_alike(a, b)]
    if alike:
        # one stem as a modifier in one name and as the complement in the other keeps the meaning
        # ("technological change" / "changes in technology"); any other such pair changes it
        mods_a, head_a, comp_a = noun_phrase(name_a)
        mods_b, head_b, comp_b = noun_phrase(name_b)
        moved = all((a in mods_a and b in comp_b) or (a in comp_a and b in mods_b) for a, b in alike)
        paired = {a for a, _ in alike} == only_a and {b for _, b in alike} == only_b and len(alike) == len(only_a)
        return None if moved and paired and head_a == head_b else "spelling"
    if head_noun(name_a) == head_noun(name_b):
        return "modifier"
    return None


@dataclass
class EmbeddingPairs:
    """Embedding evidence of one discipline: the pairs kept and what was set aside, by reason."""

    pairs: dict[tuple[str, str], tuple[Method, float]] = field(default_factory=dict)
    blocked: dict[str, int] = field(default_factory=dict)
    embedded: int = 0
    looked_up: int = 0


def embedding_pairs(store: GraphStore, discipline: str, names: Mapping[str, str], *, threshold: float,
                    word_threshold: float = DEFAULT_WORD_THRESHOLD, hubs: Iterable[Hub] = (),
                    encode: Encode | None = None, model: str | None = None,
                    k: int = INDEX_K) -> EmbeddingPairs:
    """Pairs of active concepts of ``discipline`` (``names``: id -> name) whose embeddings' cosine
    reaches ``threshold``, hubs and blocked pairs (:func:`embedding_blocked`) left out.

    Where the names share words, the words that differ (:func:`differing_words`) must themselves reach
    ``word_threshold`` (reason ``differing_words`` otherwise): the shared words lift the cosine of
    "satellite radio services" / "satellite radio companies" although services are not companies.
    Embeds what is missing (:func:`ensure_embeddings`), makes sure the vector index exists, then asks it
    for each concept's nearest neighbours. Raises :class:`InputError` for a threshold outside (0, 1].
    """
    for what, value in (("embedding threshold", threshold), ("word threshold", word_threshold)):
        if not 0.0 < value <= 1.0:
            raise InputError(f"{what} must be a cosine similarity in (0, 1], got {value}")
    encode = encode or _default_encode
    out = EmbeddingPairs()
    out.embedded = ensure_embeddings(store, discipline, encode=encode, model=model)
    if len(names) < 2:
        return out
    ensure_embedding_index(store)
    hub_ids = {h.id for h in hubs}
    ids = sorted(names)
    out.looked_up = len(ids)
    blocked: dict[str, int] = defaultdict(int)
    kept: dict[tuple[str, str], float] = {}
    for (a, b), cosine in sorted(nearest_neighbours(store, ids, k=k, min_cosine=threshold).items()):
        if a not in names or b not in names:
            continue
        reason = "hub" if a in hub_ids or b in hub_ids else embedding_blocked(names[a], names[b])
        if reason is None:
            kept[(a, b)] = cosine
        else:
            blocked[reason] += 1
    # the words that differ, where the names also share some (else the names' own cosine says it all)
    differing: dict[tuple[str, str], tuple[str, str]] = {}
    for a, b in kept:
        if Counter(_content_tokens(names[a])) & Counter(_content_tokens(names[b])):
            words = differing_words(names[a], names[b])
            if words[0] and words[1]:
                differing[(a, b)] = words
    texts = sorted({t for words in differing.values() for t in words})
    vectors = dict(zip(texts, encode(texts), strict=True)) if texts else {}
    for pair, cosine in kept.items():
        diff = differing.get(pair)
        if diff is not None and float(vectors[diff[0]] @ vectors[diff[1]]) < word_threshold:
            blocked["differing_words"] += 1
            continue
        out.pairs[pair] = ("embedding", round(cosine, 4))
    out.blocked = dict(sorted(blocked.items()))
    return out


@dataclass
class DisciplineResolution:
    """The candidates of one discipline with the evidence behind the embedding ones."""

    discipline: str
    candidates: list[Candidate]
    hubs: list[Hub]
    embedding: EmbeddingPairs | None


def find_candidates_with_embeddings(store: GraphStore, discipline: str, *, threshold: float = DEFAULT_THRESHOLD,
                                    embedding_threshold: float | None = DEFAULT_EMBEDDING_THRESHOLD,
                                    word_threshold: float = DEFAULT_WORD_THRESHOLD, encode: Encode | None = None,
                                    model: str | None = None) -> DisciplineResolution:
    """Rule candidates (exact, match_key, fuzzy at ``threshold``) plus embedding candidates of one discipline.

    With ``embedding_threshold`` None only the rules run (no encoder is loaded); hubs are reported either
    way. Writes only embeddings (and the vector index), never a merge.
    """
    rows = store.query("merge_candidates_input", {"discipline": discipline})
    hubs = find_hubs(store, discipline)
    evidence: EmbeddingPairs | None = None
    if embedding_threshold is not None:
        names = {str(r["id"]): str(r.get("name") or "") for r in rows if not r.get("merged_into")}
        evidence = embedding_pairs(store, discipline, names, threshold=embedding_threshold,
                                   word_threshold=word_threshold, hubs=hubs,
                                   encode=encode, model=model)
    candidates = plan_candidates(rows, discipline, threshold, extra=evidence.pairs if evidence else None)
    return DisciplineResolution(discipline=discipline, candidates=candidates, hubs=hubs, embedding=evidence)


@dataclass
class ResolveResult:
    """What :func:`resolve` did per discipline: merges made (or that would be made), hubs, evidence."""

    dry_run: bool
    disciplines: list[DisciplineResolution]
    merges: list[MergeRecord]  # in the order made
    seconds: float

    def by_method(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for m in self.merges:
            counts[m.method] += 1
        return dict(sorted(counts.items()))


def resolve(store: GraphStore, disciplines: Sequence[str], *, threshold: float = DEFAULT_THRESHOLD,
            embedding_threshold: float | None = DEFAULT_EMBEDDING_THRESHOLD,
            word_threshold: float = DEFAULT_WORD_THRESHOLD, dry_run: bool = False,
            encode: Encode | None = None, model: str | None = None) -> ResolveResult:
    """Entity resolution over ``disciplines``: rule and embedding candidates, then the merges.

    The entry point for ``proda resolve`` and the demo. With ``dry_run`` no merge is written (concept
    embeddings and the vector index still are: they are a cache of the names). ``embedding_threshold``
    None runs the string rules only.
    """
    t0 = time.perf_counter()
    done: list[DisciplineResolution] = []
    made: list[MergeRecord] = []
    for d in disciplines:
        res = find_candidates_with_embeddings(store, d, threshold=threshold, embedding_threshold=embedding_threshold,
                                              word_threshold=word_threshold, encode=encode, model=model)
        done.append(res)
        made.extend(merge(store, res.candidates, dry_run=dry_run))
    return ResolveResult(dry_run=dry_run, disciplines=done, merges=made, seconds=time.perf_counter() - t0)
