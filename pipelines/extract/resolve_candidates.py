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
prefix ("intracellular" / "intercellular") or by an affix ("male" / "female") is never proposed, and
neither is one whose names differ by anything but spelling (:func:`spelled_variants`): a high ratio
between long names says little about the one word they do not share ("price of food" / "price of
goods", "neoclassical economists" / "neoclassical economics"), nor about the same words in another
order ("body cells" / "cell body").

Every candidate pairs a duplicate with the canonical concept it should merge into, and each rests on
direct evidence between those two concepts (no transitive chaining): the best-connected concept
claims its matches first, so the canonical is chosen deterministically.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import permutations
from typing import Any, Literal

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from proda.errors import InputError
from proda.schema.ids import FUNCTION_WORDS, normalise_name
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


# prepositions after which a noun phrase's complement starts: the head noun comes before the first one
_PREPOSITIONS: frozenset[str] = frozenset({
    "of", "in", "on", "for", "to", "with", "by", "at", "from", "about", "between", "among", "into", "over",
    "under", "through", "per", "within", "without", "against", "during", "across", "via",
})


def match_key_tokens(name: str) -> list[str]:
    """The words of ``name``'s plural/singular match key (lower-case, singular, hyphens split)."""
    return match_key(name).split()


def noun_phrase(name: str) -> tuple[list[str], str, list[str]]:
    """(modifiers, head, complement) of a noun phrase, roughly: the head is the last content word
    before the first preposition, the complement the content words after it."""
    tokens = match_key_tokens(name)
    cut = next((i for i, t in enumerate(tokens) if t in _PREPOSITIONS and i > 0), len(tokens))
    before = [t for t in tokens[:cut] if t not in FUNCTION_WORDS]
    after = [t for t in tokens[cut:] if t not in FUNCTION_WORDS]
    if not before:
        return [], "", after
    return before[:-1], before[-1], after


def head_noun(name: str) -> str:
    """The head of a noun phrase, roughly: its last content word before a preposition ("rate of return": rate)."""
    return noun_phrase(name)[1]


# words that join two names: "productivity and output" names two things (never merged on embeddings); in a
# fuzzy pair, they make the order of the words free ("legislative and executive" / "executive and legislative")
COORDINATORS: frozenset[str] = frozenset({"and", "or", "&", "plus", "versus", "vs", "nor"})
# irregular plural endings (singular, plural) that match_key's naive singular does not fold; ("is", "e") is
# the naive singular of an -es plural ("hypotheses" keys as "hypothese")
_PLURAL_ENDINGS: tuple[tuple[str, str], ...] = (
    ("is", "es"), ("is", "e"), ("on", "a"), ("um", "a"), ("us", "i"), ("ix", "ices"), ("ex", "ices"),
)
# the act named by its gerund or by its noun: calculating / calculation, collecting / collection
_NOMINAL_ENDINGS: tuple[tuple[str, str], ...] = (("ing", "ion"), ("ing", "ation"))
# letters that spelling conventions swap inside a word: organise / organize, defence / defense
_SPELLING_SWAPS: frozenset[frozenset[str]] = frozenset({frozenset("sz"), frozenset("cs")})
MIN_VARIANT_LENGTH = 5  # shorter words one letter apart are usually other words: food / good, rate / race
# words a name may have or lack without naming something else: determiners, quantifiers, modal verbs
# ("formation of each disc" / "formation of discs", "compound that can donate" / "compound that donates")
_FILLER_WORDS: frozenset[str] = frozenset({
    "each", "every", "all", "any", "some", "both", "its", "their", "this", "that", "these", "those", "which",
    "can", "may", "might", "could", "would", "should", "will", "must",
})


def _added_letter(short: str, long: str, at: int) -> bool:
    """Whether ``long`` is ``short`` with the letter at ``at`` added as a spelling convention adds one:
    a doubled letter (focused / focussed, a typo's oportunity / opportunity), the u of -our (labor /
    labour) or the e of -ement and -eing (judgment / judgement, aging / ageing). Any other added letter
    makes another word ("secretin" / "secretion", "plane" / "planet")."""
    if not 0 < at < len(long) - 1:
        return False
    letter = long[at]
    if letter in (long[at - 1], long[at + 1]):
        return True
    if letter == "u" and long[at - 1:at + 2] == "our":
        return True
    return letter == "e" and long[at + 1:].startswith(("ment", "ing"))


def _word_variants(a: str, b: str) -> bool:
    """Two words that are one word written two ways: an irregular plural (hypothesis / hypotheses), a
    gerund and its noun (calculating / calculation), a letter a spelling convention adds
    (:func:`_added_letter`), a convention's letter swap (organise / organize) or -re / -er (centre /
    center). Any other difference makes another word ("food" / "good", "model" / "modal", "economist" /
    "economics")."""
    if a == b:
        return True
    for x, y in ((a, b), (b, a)):
        for one, many in _PLURAL_ENDINGS:
            if x.endswith(one) and y.endswith(many) and len(x) - len(one) >= 3 and x[:-len(one)] == y[:-len(many)]:
                return True
        for act, noun in _NOMINAL_ENDINGS:
            if x.endswith(act) and y.endswith(noun) and len(x) - len(act) >= 4 and x[:-len(act)] == y[:-len(noun)]:
                return True
    if min(len(a), len(b)) < MIN_VARIANT_LENGTH:
        return False
    if a[:-2] == b[:-2] and {a[-2:], b[-2:]} == {"re", "er"}:
        return True
    ops = Levenshtein.editops(a, b).as_list()
    if len(ops) != 1:
        return False
    tag, i, j = str(ops[0][0]), int(ops[0][1]), int(ops[0][2])
    if tag == "replace":
        return frozenset((a[i], b[j])) in _SPELLING_SWAPS
    return _added_letter(a, b, j) if tag == "insert" else _added_letter(b, a, i)


def _content_words(name: str) -> list[tuple[str, str]]:
    """(singular key, word as written) of each content word of a name; a name's last word always counts,
    as no article or preposition ends a noun phrase ("immunoglobulin a": the a is a label)."""
    words = normalise_name(name).replace("-", " ").split()
    return [(match_key(w), w) for i, w in enumerate(words)
            if (w not in FUNCTION_WORDS and w not in _FILLER_WORDS) or i == len(words) - 1]


def _same_order(xs: list[str], ys: list[str]) -> bool:
    """Whether the words both lists hold come in the same order in each."""
    common = set(xs) & set(ys)
    return [x for x in xs if x in common] == [y for y in ys if y in common]


def spelled_variants(name_a: str, name_b: str) -> bool:
    """True when two names name one concept in other spelling: the same content words up to plural and
    spelling (:func:`_word_variants`), or the words of one written as one word in the other ("health care"
    / "healthcare"), with any function and filler words; in another order only where the head noun stays
    ("coefficient of static friction" / "static coefficient of friction") and what follows a preposition
    keeps its order, since a new head or swapped roles is another concept ("body cells" / "cell body",
    "force of hammer on nail" / "force of nail on hammer"); a hyphenated compound may turn round
    ("decision-making" / "making decisions"). A fuzzy pair must pass this: token ratios are high between
    long names that differ in one word, and that word is the concept."""
    wa, wb = _content_words(name_a), _content_words(name_b)
    only_a = Counter(k for k, _ in wa) - Counter(k for k, _ in wb)
    only_b = Counter(k for k, _ in wb) - Counter(k for k, _ in wa)
    rest_a = [(k, w) for k, w in wa if k in only_a]
    rest_b = [(k, w) for k, w in wb if k in only_b]
    if (only_a or only_b) and "".join(k for k, _ in rest_a) != "".join(k for k, _ in rest_b):
        if len(rest_a) != len(rest_b) or len(rest_a) > 3:
            return False
        if not any(all(_word_variants(ka, kb) or _word_variants(xa, xb)
                       for (ka, xa), (kb, xb) in zip(rest_a, perm, strict=True))
                   for perm in permutations(rest_b)):
            return False
    if [k for k, _ in wa] == [k for k, _ in wb]:
        return True
    return keeps_roles(name_a, name_b, same_words=not (only_a or only_b))


def keeps_roles(name_a: str, name_b: str, *, same_words: bool) -> bool:
    """Whether two names that use (nearly) the same words in another order still give each word its role:
    the same head noun ("inequality of income" / "income inequality") and, after a preposition, the same
    order ("force of hammer on nail" / "force of nail on hammer" swap who acts on whom). A new head is
    another concept ("body cells" / "cell body", "cells of body" / "cell body"), except where a hyphenated
    compound turns round with ``same_words`` ("decision-making" / "making decisions"). A coordination's
    order is free ("legislative and executive" / "executive and legislative"), and so is a head that a
    gerund leads ("calculating concentration of analyte" names a calculation, not a concentration)."""
    words = set(match_key_tokens(name_a)) | set(match_key_tokens(name_b))
    if words & COORDINATORS:
        return True
    mods_a, head_a, comp_a = noun_phrase(name_a)
    mods_b, head_b, comp_b = noun_phrase(name_b)
    gerund = any(w.endswith("ing") for w in (*mods_a, head_a, *mods_b, head_b))
    if not gerund and not (head_a == head_b or _word_variants(head_a, head_b)):
        return same_words and "-" in name_a + name_b
    return _same_order(comp_a, comp_b)


def name_words(name: str) -> int:
    """Words in a concept name (a hyphen separates words): one-word names are the ambiguous ones."""
    return len(normalise_name(name).replace("-", " ").split())


def _one_word(name: str) -> bool:
    return name_words(name) == 1


def _sorted_tokens(key: str) -> str:
    return " ".join(sorted(key.split()))


def _pairs(entries: list[ConceptEntry], forms: Mapping[str, list[str]],
           threshold: float, spelling: bool = True) -> dict[tuple[str, str], tuple[Method, float]]:
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
                if not score or fuzzy_blocked(sa, sb):
                    continue
                if not spelling or spelled_variants(forms[a][0], forms[b][0]):  # the names, not aliases
                    add(a, b, "fuzzy", round(float(score), 2))
    return found


def plan_candidates(rows: Iterable[Mapping[str, Any]], discipline: str,
                    threshold: float = DEFAULT_THRESHOLD,
                    extra: Mapping[tuple[str, str], tuple[Method, float]] | None = None, *,
                    spelling: bool = True) -> list[Candidate]:
    """The merges to propose for one discipline's concept rows (pure: no graph access).

    Concepts already merged are skipped, but their names and aliases count as forms of the concept
    they were merged into. Exact and match_key evidence is assigned first, fuzzy evidence second and
    ``extra`` evidence (embedding pairs between active concepts, keyed by either id order) last, where
    no stronger evidence links the pair; within each pass, concepts in canonical-preference order
    (:meth:`ConceptEntry.rank`) claim their unclaimed matches, and a concept that has claimed
    duplicates is never itself a duplicate.
    ``spelling=False`` proposes fuzzy pairs that differ by more than spelling too (:func:`spelled_variants`),
    for an audit of what that rule refuses.
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
    pairs = _pairs(active, forms, threshold, spelling)
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
