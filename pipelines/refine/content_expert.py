"""A main-content extractor as the RefineX expert: trafilatura on the page's HTML, projected onto its lines.

The LLM expert (:mod:`.expert`) reads the raw text and returns it cleaned. A main-content extractor
reads the *HTML* instead (it sees the DOM: link density, ``<nav>``, ``<footer>``) and returns its own
text rendering, with its own whitespace and line breaks: trafilatura joins table cells with ``|``,
turns non-breaking spaces into spaces and list items into ``- item``. Distilling that text directly
against the raw text would read every such difference as a rewrite.

So the extractor's answer is first *projected* onto the raw text's lines
(:func:`project_onto_lines`): both sides are cut into lower-cased words, aligned by a longest common
subsequence, and a raw line is kept when at least :data:`KEEP_SHARE` of its words are in the
extractor's text. The refined text handed to :func:`~proda.pipelines.refine.distill.distill` is the
kept raw lines verbatim, *plus* every run of the extractor's words that no raw line explains, at
its place: the reliability filter then sees those as insertions and discards a page whose extractor
output the raw text does not account for (text from attributes, a different page version), exactly
as it discards an LLM's paraphrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz.distance import Indel

from proda.errors import DependencyMissing
from proda.pipelines.refine.config import check_favour

KEEP_SHARE = 0.5
"""A raw line is in the projection when at least this share of its words are in the extractor's text."""
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Projection:
    """An extractor's answer on the raw text's lines: the refined text and which raw lines it keeps."""

    refined: str
    kept: tuple[bool, ...]
    unexplained_words: int
    extracted_words: int


def project_onto_lines(raw: str, extracted: str, keep_share: float = KEEP_SHARE) -> Projection:
    """The refined text an extractor's output ``extracted`` amounts to on the lines of ``raw``.

    Returns a :class:`Projection`: kept raw lines verbatim, with each run of extracted words that no
    raw word matches inserted (space-joined) after the raw line it follows. Never raises.
    """
    lines = raw.split("\n")
    raw_words: list[str] = []
    owner: list[int] = []
    for i, line in enumerate(lines):
        for word in _WORD.findall(line.lower()):
            raw_words.append(word)
            owner.append(i)
    ext_words = _WORD.findall(extracted.lower())
    matched = [0] * len(lines)
    total = [0] * len(lines)
    for i in owner:
        total[i] += 1
    inserted: dict[int, list[str]] = {}
    unexplained = 0
    for op in Indel.opcodes(raw_words, ext_words):
        if op.tag == "equal":
            for k in range(op.src_start, op.src_end):
                matched[owner[k]] += 1
        elif op.tag == "insert":
            at = owner[op.src_start - 1] if op.src_start else -1
            inserted.setdefault(at, []).append(" ".join(ext_words[op.dest_start:op.dest_end]))
            unexplained += op.dest_end - op.dest_start
    kept = tuple(total[i] > 0 and matched[i] >= keep_share * total[i] for i in range(len(lines)))
    out: list[str] = list(inserted.get(-1, []))
    for i, line in enumerate(lines):
        if kept[i]:
            out.append(line)
        out.extend(inserted.get(i, []))
    return Projection("\n".join(out), kept, unexplained, len(ext_words))


def expert_kept_lines(raw: str, extracted: str) -> tuple[bool, ...] | None:
    """Per line of ``raw``, whether the extractor's answer ``extracted`` keeps it; None when the extractor
    found no content on the page (nothing extracted, or nothing of it on these lines)."""
    if not extracted.strip():
        return None
    kept = project_onto_lines(raw, extracted).kept
    return kept if any(kept) else None


class MainContentExpert:
    """trafilatura's main-content extraction as an expert over HTML, at one of its operating points
    (``favour``: recall, the default, keeps more of a page; precision keeps less).

    ``name`` (library version and operating point) is what every program distilled from it records.
    Raises :class:`~proda.errors.DependencyMissing` without trafilatura (``pip install 'proda[web]'``)
    and ConfigError for an unknown operating point.
    """

    def __init__(self, *, favour: str = "recall") -> None:
        check_favour(favour)
        try:
            import trafilatura
        except ImportError as e:
            raise DependencyMissing("trafilatura", extra="web", why="for the main-content expert") from e
        self._extract = trafilatura.extract
        self.favour = favour
        version = getattr(trafilatura, "__version__", "?")
        # the recall point keeps its historical name, so programs distilled before stay comparable
        self.name = f"trafilatura-{version}" + ("" if favour == "balanced" else f":favor_{favour}")

    def extract(self, html: str) -> str:
        """The page's main content as trafilatura renders it ("" when it finds none)."""
        try:
            out = self._extract(html, favor_recall=self.favour == "recall",
                                favor_precision=self.favour == "precision", include_comments=False)
        except Exception:  # noqa: BLE001 - a parser of untrusted pages can fail in any way: no content then
            return ""
        return out or ""

    def refine(self, raw: str, html: str) -> str:
        """The end-to-end refined version of ``raw`` (the page's visible text) by this expert."""
        extracted = self.extract(html)
        if not extracted.strip():
            return ""
        return project_onto_lines(raw, extracted).refined
