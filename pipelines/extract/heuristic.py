"""The ``heuristic`` extractor: a deterministic, offline pattern baseline (no model, no network).

It is the default when no API key or model URL is configured, so ``proda demo`` and CI run
offline. It is a *baseline*: its output is labelled ``heuristic`` everywhere (the extractor's
``name`` and ``prompt_version``, and every chain summary starts with ``[heuristic]``).

How it reads a chunk:

1. Split the chunk into sentences (:func:`split_sentences`: regex boundaries that skip
   abbreviations such as "e.g.", "i.e.", "U.S." and never split decimals).
2. Match sentence-level patterns per relation type (:mod:`.heuristic_patterns`: "X is a Y",
   "X leads to Y", "Y consists of A, B and C", "examples of Y include ...", "unlike Y, X ...")
   and cut a short noun phrase on each side; a triple whose subject or object is junk (a
   pronoun, a vague word, too long) is dropped. The evidence of a triple is the sentence that states it, verbatim.
3. Chain the chunk's triples into L3 paths: step i's object is step i+1's subject, after name
   normalisation (:func:`proda.schema.ids.normalise_name` plus a naive singular), preferring long
   simple paths, at most :data:`MAX_PATHS` of them.

Reachability choice: top-down extraction promises that every L2 relation lies on some L3 chain.
A triple that lies on no path of two or more steps is therefore emitted as a one-step chain, so
the heuristic never produces an orphan relation. Such chains test recall of a single fact rather
than multi-step reasoning; downstream stages can tell them apart by length.

Non-English and pattern-less chunks give an empty :class:`ChunkExtraction`;
:func:`coverage_reason` says why, so the extraction stage can count them by reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from proda.pipelines.extract.heuristic_patterns import ENGLISH_MARKERS, FOREIGN_MARKERS, sentence_triples
from proda.pipelines.extract.model import ChunkExtraction, ChunkInput, ExtractedChain, ExtractedStep
from proda.schema.ids import normalise_name
from proda.schema.vocabulary import Vocabulary, default_vocabulary

MAX_PATHS = 8  # multi-step chains per chunk
MAX_CHAINS = 32  # ChunkExtraction's own limit; one-step chains fill the rest
MAX_STEPS = 8  # ExtractedChain's own limit
_PATH_BUDGET = 20_000  # DFS expansions per chunk: a dense chunk must not stall the stage
_MIN_ENGLISH = 0.12  # share of English function words below which long text is not English prose

REASON_EMPTY = "empty text"
REASON_NOT_ENGLISH = "not English prose"  # foreign text, or a reference list / code / URLs
REASON_NO_MATCH = "no pattern matched"

# A boundary is terminal punctuation, optional closing quotes/brackets, whitespace, then
# something that can open a sentence (capital, digit, opening quote/bracket). A decimal point
# ("3.14") is never followed by whitespace, so it is never a candidate.
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
# Words that end in a period without ending the sentence ("e.g.", "Fig.", "Inc."); a single
# letter ("J. Smith") and dotted initialisms ("U.S.", "U.K.") are recognised by shape. The cost:
# a sentence that really ends in "U.S." before a capital is joined to the next one.
_ABBREVIATIONS = frozenset({
    "e.g", "i.e", "etc", "vs", "cf", "al", "approx", "ca", "mr", "mrs", "ms", "dr", "prof", "inc",
    "co", "corp", "ltd", "no", "nos", "fig", "figs", "st", "jr", "sr", "vol", "pp", "ed", "eds",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "dept",
    "est", "gov", "mt", "ft", "sq", "op",
})
_INITIALISM = re.compile(r"(?:[A-Za-z]\.)*[A-Za-z]")
_LIST_MARKER = re.compile(r"(?:[-*•]|\d{1,2}[.)])\s+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return ``(start, end)`` offsets of the sentences of ``text``; ``text[start:end]`` is verbatim.

    Lines are split first: headings (``## ...``) are skipped and a list item's marker (``- ``,
    ``1. ``) is left out of its sentence. Within a line, a boundary after a known abbreviation
    or an initialism is not a sentence end.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        start, end = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        body = text[start:end]
        stripped = body.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        marker = _LIST_MARKER.match(stripped)
        s = start + len(body) - len(stripped) + (marker.end() if marker else 0)
        for m in _BOUNDARY.finditer(text, s, end):
            word = re.search(r"(\S+)$", text[s:m.start()])
            token = word.group(1).lstrip("\"“‘(") if word else ""
            if m.group().startswith(".") and (token.casefold() in _ABBREVIATIONS or _INITIALISM.fullmatch(token)):
                continue
            _add_span(text, s, m.start() + len(m.group().rstrip()), spans)
            s = m.end()
        _add_span(text, s, end, spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


_URL = re.compile(r"\S+://\S+|www\.\S+")


def looks_english(text: str) -> bool:
    """Whether ``text`` reads as English prose.

    Not English: more function words of French, German, Spanish, Italian or Portuguese than of
    English, or (from 20 words on) English function words under :data:`_MIN_ENGLISH` of all
    words, which also catches reference lists and code: they state no relations. URLs are ignored.
    """
    words = re.findall(r"[^\W\d_]+", _URL.sub(" ", text).casefold())
    english = sum(w in ENGLISH_MARKERS for w in words)
    foreign = sum(w in FOREIGN_MARKERS for w in words)
    if foreign > english:
        return False
    return len(words) < 20 or english / len(words) >= _MIN_ENGLISH


def coverage_reason(extraction: ChunkExtraction, chunk: ChunkInput | None = None) -> str | None:
    """Why an extraction is empty, or None when it has chains.

    With the ``chunk`` the reason is specific (``"empty text"``, ``"not English prose"``); without it,
    every empty extraction reads ``"no pattern matched"``.
    """
    if extraction.chains:
        return None
    if chunk is not None:
        if not chunk.text.strip():
            return REASON_EMPTY
        if not looks_english(chunk.text):
            return REASON_NOT_ENGLISH
    return REASON_NO_MATCH


def concept_key(name: str) -> str:
    """Normalised name with a naively singular last word, so "demand curves" meets "demand curve"."""
    words = normalise_name(name).split(" ")
    last = words[-1]
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("sses", "shes", "ches", "xes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us", "is", "'s", "’s")) and len(last) > 3:
        last = last[:-1]
    return " ".join([*words[:-1], last])


class HeuristicExtractor:
    """Pattern-based extractor; see the module docstring. Stateless and deterministic."""

    name: str = "heuristic"
    model: str | None = None
    prompt_version: str = "heuristic-v2"  # bump whenever a pattern or a filter changes

    def __init__(self) -> None:
        self._vocabulary = default_vocabulary()

    def extract(self, chunk: ChunkInput) -> ChunkExtraction:
        """Return the chunk's chains (possibly none); never raises on odd text."""
        if not chunk.text.strip() or not looks_english(chunk.text):
            return ChunkExtraction()
        steps = self._steps(chunk.text)
        return ChunkExtraction(chains=[self._chain(steps, path) for path in chain_paths(steps)])

    def _steps(self, text: str) -> list[ExtractedStep]:
        """Unique triples in text order, each concept spelled as it was first seen in the chunk."""
        found: list[tuple[tuple[str, str, str], str]] = []
        for start, end in split_sentences(text):
            evidence = text[start:end]
            if len(evidence) <= 2000:
                found.extend((triple, evidence) for triple in sentence_triples(evidence))
        return unique_steps(found, self._vocabulary)

    def _chain(self, steps: list[ExtractedStep], path: tuple[int, ...]) -> ExtractedChain:
        return summarised_chain([steps[i] for i in path], self._vocabulary, "[heuristic]")


def unique_steps(found: Iterable[tuple[tuple[str, str, str], str]], vocabulary: Vocabulary) -> list[ExtractedStep]:
    """Steps from ``((subject, relation, object), evidence)`` in text order: declared types only, each
    triple once, no self-loop, and each concept spelled as it was first seen in the chunk."""
    spelling: dict[str, str] = {}
    seen: set[tuple[str, str, str]] = set()
    steps: list[ExtractedStep] = []
    for (subj, rel, obj), evidence in found:
        if rel not in vocabulary:  # patterns only name declared types; guard anyway
            continue
        s = spelling.setdefault(concept_key(subj), subj)
        o = spelling.setdefault(concept_key(obj), obj)
        key = (concept_key(s), rel, concept_key(o))
        if key[0] == key[2] or key in seen:
            continue
        seen.add(key)
        steps.append(ExtractedStep(subject=s, relation=rel, object=o, evidence=evidence))
    return steps


def summarised_chain(chosen: list[ExtractedStep], vocabulary: Vocabulary, tag: str) -> ExtractedChain:
    """The chain of ``chosen`` steps with a templated summary that starts with the extractor's ``tag``."""
    text = f"{chosen[0].subject} {vocabulary.get(chosen[0].relation).phrase} {chosen[0].object}"
    for step in chosen[1:]:
        text += f", which {vocabulary.get(step.relation).phrase} {step.object}"
    summary = f"{tag} {text}."
    if len(summary) > 500:
        summary = summary[:499] + "…"
    return ExtractedChain(steps=chosen, summary=summary)


def chain_paths(steps: list[ExtractedStep]) -> list[tuple[int, ...]]:
    """Index paths over ``steps``: up to :data:`MAX_PATHS` multi-step paths, then one-step chains.

    A path is simple (no concept twice) and each step's object is the next step's subject. Paths
    are picked greedily by how many not-yet-covered triples they add, then by length, then by
    text order, so the result is deterministic. Every triple not on a picked path becomes a
    one-step chain (reachability, see the module docstring) until :data:`MAX_CHAINS` is reached;
    beyond that, the latest triples of the chunk are left out.
    """
    out_edges: dict[str, list[int]] = {}
    for i, st in enumerate(steps):
        out_edges.setdefault(concept_key(st.subject), []).append(i)
    candidates: list[tuple[int, ...]] = []
    budget = _PATH_BUDGET

    def walk(path: tuple[int, ...], visited: tuple[str, ...]) -> None:
        nonlocal budget
        extended = False
        if len(path) < MAX_STEPS:
            for j in out_edges.get(concept_key(steps[path[-1]].object), []):
                nxt = concept_key(steps[j].object)
                if nxt in visited or budget <= 0:
                    continue
                budget -= 1
                extended = True
                walk((*path, j), (*visited, nxt))
        if not extended and len(path) >= 2:
            candidates.append(path)

    for i, st in enumerate(steps):
        walk((i,), (concept_key(st.subject), concept_key(st.object)))

    covered: set[int] = set()
    picked: list[tuple[int, ...]] = []
    while candidates and len(picked) < MAX_PATHS:
        best = min(candidates, key=lambda p: (-len(set(p) - covered), -len(p), p))
        if not set(best) - covered:
            break
        picked.append(best)
        covered.update(best)
        candidates.remove(best)
    singles = [(i,) for i in range(len(steps)) if i not in covered]
    return (picked + singles)[:MAX_CHAINS]
