"""Entity-resolution candidates: which concepts of one discipline name the same thing.

Three kinds of evidence, strongest first:

- ``exact``: a normalised name or alias of one concept equals a normalised name or alias of another
  (:func:`proda.schema.ids.normalise_name`: case, width and whitespace folded);
- ``match_key``: the plural/singular key of :func:`proda.schema.store.writer.match_key` is equal;
- ``fuzzy``: rapidfuzz ``token_sort_ratio`` of the two keys reaches the threshold;
- ``embedding``: the cosine similarity of the names' sentence embeddings reaches its threshold (found by
  :mod:`proda.pipelines.extract.resolve_embed` and passed in as ``extra`` pairs; weakest, assigned last).

Short names and acronyms ("GDP", "ion") take part only in exact matches, so a naive singular never
turns "AIDS" into "aid"; an alias list is how an acronym joins its expansion. Fuzzy pairs are compared
only within blocks (the first three characters of the key, and of its sorted tokens) and within the
length window the threshold allows, so a large discipline is never compared all against all; a fuzzy
pair whose names differ only by a number, by short tokens ("type a" / "type b"), by a contrasting
prefix ("intracellular" / "intercellular") or by an affix ("male" / "female") is never proposed.

Every candidate pairs a duplicate with the canonical concept it should merge into, and each rests on
direct evidence between those two concepts (no transitive chaining): the best-connected concept
claims its matches first, so the canonical is chosen deterministically.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rapidfuzz import fuzz

from proda.errors import InputError
from proda.schema.ids import normalise_name
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import match_key

Method = Literal["exact", "match_key", "fuzzy", "embedding"]
STRENGTH: dict[str, int] = {"exact": 2, "match_key": 1, "fuzzy": 0, "embedding": -1}
# evidence is assigned pass by pass, strongest first; a concept claimed in one pass is settled for the next
PASSES: tuple[frozenset[str], ...] = (frozenset({"exact", "match_key"}), frozenset({"fuzzy"}), frozenset({"embedding"}))
DEFAULT_THRESHOLD = 92.0
MIN_KEY_LENGTH = 4  # keys shorter than this ("ion", "gas", "aid") only ever match exactly
BLOCK_PREFIX = 3

# a single token with at least two capitals and no run of three lower-case letters: GDP, GDPs, mRNA,
# CO2, HIV/AIDS, NaCl (but not "Demand-Curve")
_ACRONYM = re.compile(r"^(?!.*[a-z]{3})\S*[A-Z]\S*[A-Z]\S*$")
_ROMAN = frozenset({"i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"})
# word prefixes that turn a word into a different (often opposite) concept at a high fuzzy score
_CONTRASTS: tuple[tuple[str, str], ...] = (
    ("micro", "macro"), ("hyper", "hypo"), ("inter", "intra"), ("endo", "exo"), ("pre", "post"),
    ("homo", "hetero"), ("sub", "super"), ("mono", "poly"), ("over", "under"), ("in", "out"),
    ("in", "de"), ("im", "ex"), ("in", "ex"), ("ac", "de"), ("ana", "cata"), ("up", "down"),
    ("uni", "multi"), ("pro", "anti"), ("infra", "ultra"),
)


@dataclass(frozen=True)
class Candidate:
    """A proposed merge of ``duplicate_id`` into ``canonical_id`` with its evidence.

    ``score`` is 100 for exact and match_key evidence, the token_sort_ratio for fuzzy evidence and the
    cosine similarity (0-1) for embedding evidence.
    The names and discipline are for display; :func:`~proda.pipelines.extract.resolve.merge` reads
    the current names from the graph.
    """

    canonical_id: str
    duplicate_id: str
    method: Method
    score: float
    discipline: str = ""
    canonical_name: str = ""
    duplicate_name: str = ""


@dataclass(frozen=True)
class ConceptEntry:
    """One concept as entity resolution sees it (a row of ``merge_candidates_input``)."""

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    merged_into: str | None = None
    degree: int = 0
    chains: int = 0
    documents: frozenset[str] = frozenset()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ConceptEntry:
        return cls(id=str(row["id"]), name=str(row.get("name") or ""),
                   aliases=tuple(str(a) for a in (row.get("aliases") or ())),
                   merged_into=row.get("merged_into") or None,
                   degree=int(row.get("degree") or 0), chains=int(row.get("chains") or 0),
                   documents=frozenset(str(d) for d in (row.get("documents") or ()) if d))

    def rank(self) -> tuple[int, int, int, str]:
        """Sort key of canonical preference: more relations, more chains, shorter name, then id."""
        return (-self.degree, -self.chains, len(normalise_name(self.name)), self.id)


def usable_key(name: str) -> str | None:
    """The plural/singular :func:`match_key` of ``name``, or None for a name that only matches exactly
    (an acronym, or a name whose key is very short)."""
    stripped = name.strip()
    if _ACRONYM.match(stripped):
        return None
    key = match_key(stripped)
    return key if len(key) >= MIN_KEY_LENGTH else None


def is_short(name: str) -> bool:
    """True for names that only match exactly: acronyms and names whose match key is very short."""
    return usable_key(name) is None


def roots(merged_into: Mapping[str, str | None]) -> dict[str, str]:
    """Map each id to the end of its ``merged_into`` chain (itself when not merged).

    A chain that reaches an id not in ``merged_into`` (a deleted concept) or loops ends at the last
    id that exists before that point, so every id resolves to a concept that is present.
    """
    out: dict[str, str] = {}
    for start in merged_into:
        seen = [start]
        node = start
        while True:
            if node in out:
                node = out[node]
                break
            nxt = merged_into.get(node)
            if nxt is None or nxt not in merged_into or nxt in seen:
                break
            node = nxt
            seen.append(node)
        for s in seen:
            out[s] = node
    return out


def _numeric(tokens: Iterable[str]) -> list[str]:
    return sorted(t for t in tokens if t in _ROMAN or any(ch.isdigit() for ch in t))


def fuzzy_blocked(key_a: str, key_b: str) -> bool:
    """True when two near-identical keys still name different things (see the module docstring)."""
    ta, tb = key_a.split(), key_b.split()
    if _numeric(ta) != _numeric(tb):
        return True
    only_a, only_b = set(ta) - set(tb), set(tb) - set(ta)
    if not only_a and not only_b:
        return False  # the same words in another order
    if all(len(t) <= 2 for t in only_a | only_b):
        return True
    for a in only_a:
        for b in only_b:
            if a.startswith(b) or a.endswith(b) or b.startswith(a) or b.endswith(a):
                return True
            for p, q in _CONTRASTS:
                if (a.startswith(p) and b.startswith(q)) or (a.startswith(q) and b.startswith(p)):
                    return True
    return False


def name_words(name: str) -> int:
    """Words in a concept name (a hyphen separates words): one-word names are the ambiguous ones."""
    return len(normalise_name(name).replace("-", " ").split())


def _one_word(name: str) -> bool:
    return name_words(name) == 1


def _sorted_tokens(key: str) -> str:
    return " ".join(sorted(key.split()))


def _pairs(entries: list[ConceptEntry], forms: Mapping[str, list[str]],
           threshold: float) -> dict[tuple[str, str], tuple[Method, float]]:
    """Evidence between pairs of active concepts, keyed by (smaller id, larger id); strongest kept."""
    found: dict[tuple[str, str], tuple[Method, float]] = {}

    def add(a: str, b: str, method: Method, score: float) -> None:
        if a == b:
            return
        pair = (a, b) if a < b else (b, a)
        old = found.get(pair)
        if old is None or (STRENGTH[method], score) > (STRENGTH[old[0]], old[1]):
            found[pair] = (method, score)

    def index_pairs(index: Mapping[str, set[str]], method: Method) -> None:
        for ids in index.values():
            members = sorted(ids)
            for i, a in enumerate(members):
                for b in members[i + 1:]:
                    add(a, b, method, 100.0)

    exact: dict[str, set[str]] = defaultdict(set)
    keyed: dict[str, set[str]] = defaultdict(set)
    sorted_key: dict[str, str] = {}
    blocks: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        for n, form in enumerate(forms[e.id]):
            norm = normalise_name(form)
            if norm:
                exact[norm].add(e.id)
            key = usable_key(form)
            if key is None:
                continue
            keyed[key].add(e.id)
            if n == 0:  # fuzzy compares names only; blocked by key prefix and by sorted-token prefix
                sorted_key[e.id] = _sorted_tokens(key)
                blocks["k:" + key[:BLOCK_PREFIX]].add(e.id)
                blocks["s:" + sorted_key[e.id][:BLOCK_PREFIX]].add(e.id)
    index_pairs(exact, "exact")
    index_pairs(keyed, "match_key")

    # fuzzy: token_sort_ratio of the keys, computed as ratio() of pre-sorted tokens, within blocks
    # ratio = 2*matches/(la+lb) <= 2*la/(la+lb): a longer string beyond this factor cannot reach the threshold
    stretch = 200.0 / threshold - 1.0
    for members in blocks.values():
        ordered = sorted(members, key=lambda i: (len(sorted_key[i]), i))
        for n, a in enumerate(ordered):
            sa = sorted_key[a]
            longest = len(sa) * stretch + 1e-9
            for b in ordered[n + 1:]:
                sb = sorted_key[b]
                if len(sb) > longest:
                    break
                pair = (a, b) if a < b else (b, a)
                if pair in found:
                    continue
                score = fuzz.ratio(sa, sb, score_cutoff=threshold)
                if score and not fuzzy_blocked(sa, sb):
                    add(a, b, "fuzzy", round(float(score), 2))
    return found


def plan_candidates(rows: Iterable[Mapping[str, Any]], discipline: str,
                    threshold: float = DEFAULT_THRESHOLD,
                    extra: Mapping[tuple[str, str], tuple[Method, float]] | None = None) -> list[Candidate]:
    """The merges to propose for one discipline's concept rows (pure: no graph access).

    Concepts already merged are skipped, but their names and aliases count as forms of the concept
    they were merged into. Exact and match_key evidence is assigned first, fuzzy evidence second and
    ``extra`` evidence (embedding pairs between active concepts, keyed by either id order) last, where
    no stronger evidence links the pair; within each pass, concepts in canonical-preference order
    (:meth:`ConceptEntry.rank`) claim their unclaimed matches, and a concept that has claimed
    duplicates is never itself a duplicate.
    Returns candidates in that order. Raises :class:`InputError` for a threshold outside (0, 100].
    """
    if not 0.0 < threshold <= 100.0:
        raise InputError(f"fuzzy threshold must be in (0, 100], got {threshold}")
    entries = [ConceptEntry.from_row(r) for r in rows]
    by_id = {e.id: e for e in entries}
    root = roots({e.id: e.merged_into for e in entries})
    active = [e for e in entries if e.merged_into is None]
    forms: dict[str, list[str]] = {e.id: [e.name, *e.aliases] for e in active}
    for e in entries:
        r = root[e.id]
        if e.merged_into is not None and r in forms:
            forms[r].extend([e.name, *e.aliases])
    pairs = _pairs(active, forms, threshold)
    for (a, b), evidence in (extra or {}).items():
        pair = (a, b) if a < b else (b, a)
        if a != b and a in forms and b in forms and pair not in pairs:
            pairs[pair] = evidence
    # an audit of merges read on the shared corpus found most wrong ones between one-word names folded
    # across plural/singular or spelling: a common word means different things in different places
    # ("positions" as jobs, "position" in an argument; "plants" and "plant and equipment"). A one-word
    # pair is kept on such evidence only when one document uses both forms; multi-word terms are specific
    # enough to fold anywhere, and a recorded alias ("exact") always counts. Embedding evidence between two
    # forms of one word ("input" / "inputs") follows the same rule; between different words
    # ("lawyers" / "attorneys") it is the embeddings' own blocking that decides.
    documents = {r: set(by_id[r].documents) for r in forms}
    for e in entries:
        if e.merged_into is not None and root[e.id] in documents:
            documents[root[e.id]] |= e.documents
    for pair, (method, _) in list(pairs.items()):
        a, b = pair
        one_word = _one_word(by_id[a].name) and _one_word(by_id[b].name)
        same_word = match_key(by_id[a].name) == match_key(by_id[b].name)
        if one_word and (method in ("match_key", "fuzzy") or (method == "embedding" and same_word)) \
                and not documents[a] & documents[b]:
            del pairs[pair]

    order = sorted(active, key=ConceptEntry.rank)
    pos = {e.id: i for i, e in enumerate(order)}
    claimed: set[str] = set()
    canonicals: set[str] = set()
    # a concept that already holds merged duplicates is never claimed on embedding evidence, the weakest:
    # otherwise a rerun could fold a canonical of the last run into a similar name, chaining merges
    holding = {root[e.id] for e in entries if e.merged_into is not None}
    out: list[Candidate] = []
    for methods in PASSES:
        adjacent: dict[str, list[tuple[str, Method, float]]] = defaultdict(list)
        for (a, b), (method, score) in pairs.items():
            if method in methods:
                adjacent[a].append((b, method, score))
                adjacent[b].append((a, method, score))
        for e in order:
            if e.id in claimed:
                continue
            for other, method, score in sorted(adjacent[e.id], key=lambda x: (-STRENGTH[x[1]], -x[2], pos[x[0]])):
                # a better-ranked match was processed before and did not claim this concept
                if pos[other] < pos[e.id] or other in claimed or other in canonicals:
                    continue
                if method == "embedding" and other in holding:
                    continue
                claimed.add(other)
                canonicals.add(e.id)
                out.append(Candidate(canonical_id=e.id, duplicate_id=other, method=method, score=score,
                                     discipline=discipline, canonical_name=e.name,
                                     duplicate_name=by_id[other].name))
    return out


def find_candidates(store: GraphStore, discipline: str, *, threshold: float = DEFAULT_THRESHOLD) -> list[Candidate]:
    """Propose merges among the concepts of ``discipline`` (never across disciplines).

    Returns :class:`Candidate` rows (see :func:`plan_candidates`); reads the graph only.
    Raises :class:`InputError` for a threshold outside (0, 100] and the store's graph errors.
    """
    rows = store.query("merge_candidates_input", {"discipline": discipline})
    return plan_candidates(rows, discipline, threshold)
