"""Deletion quality against a known clean text: line- and character-level precision, recall and F1.

Used by the RefineX benchmark for every method alike (refine model, rule-based filters, oracle).

* **Characters.** The method's output must be a subsequence of the raw text (every method compared
  here only deletes). With ``lcs`` the longest common subsequence of output and clean text:
  clean characters lost = ``len(clean) - lcs``; noise characters kept = ``len(output) - lcs``;
  noise deleted = ``len(raw) - len(clean) - noise kept``. Precision is noise deleted per deleted
  character, recall noise deleted per noise character, and *clean preserved* ``lcs / len(clean)``.
  Alignment-based on purpose: a duplicated line may be deleted in either copy.
* **Lines.** Each raw line is labelled clean or noise by the generator; a method deletes a set of
  raw lines. Blank lines carry no content and are not scored. Deleting the original of a
  duplicated line instead of its copy counts as deleting the copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz.distance import LCSseq

from proda.pipelines.refine.noise import CLEAN, NoisyDocument


@dataclass
class Counts:
    """True positives (noise deleted), false positives (clean deleted), false negatives (noise kept)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Score:
    """Micro-averaged scores over documents."""

    chars: Counts
    lines: Counts
    clean_chars: int = 0
    clean_kept: int = 0
    documents: int = 0

    @property
    def clean_preserved(self) -> float:
        """Share of clean characters that survive."""
        return self.clean_kept / self.clean_chars if self.clean_chars else 1.0

    def as_dict(self) -> dict[str, float | int]:
        return {"documents": self.documents,
                "line_precision": round(self.lines.precision, 4), "line_recall": round(self.lines.recall, 4),
                "line_f1": round(self.lines.f1, 4), "char_precision": round(self.chars.precision, 4),
                "char_recall": round(self.chars.recall, 4), "char_f1": round(self.chars.f1, 4),
                "clean_preserved": round(self.clean_preserved, 4)}


def char_counts(raw: str, clean: str, output: str) -> tuple[Counts, int]:
    """Character counts for one document, and how many clean characters survived."""
    kept = int(LCSseq.similarity(output, clean))
    noise = len(raw) - len(clean)
    noise_kept = len(output) - kept
    noise_deleted = noise - noise_kept
    return Counts(tp=noise_deleted, fp=len(clean) - kept, fn=noise_kept), kept


def line_counts(doc: NoisyDocument, removed: Iterable[int]) -> Counts:
    """Line counts for one document given the raw line indices (0-based) a method deleted."""
    gone = set(removed)
    for copy, original in doc.twins.items():
        if original in gone and copy not in gone:
            gone.discard(original)
            gone.add(copy)
    lines = doc.raw.split("\n")
    counts = Counts()
    for i, label in enumerate(doc.labels):
        if not lines[i].strip():
            continue
        noise = label != CLEAN
        if i in gone:
            if noise:
                counts.tp += 1
            else:
                counts.fp += 1
        elif noise:
            counts.fn += 1
    return counts


def score(items: Iterable[tuple[NoisyDocument, str, Iterable[int]]]) -> Score:
    """Score (document, method output, deleted raw line indices) triples."""
    total = Score(Counts(), Counts())
    for doc, output, removed in items:
        chars, kept = char_counts(doc.raw, doc.clean, output)
        total.chars.add(chars)
        total.lines.add(line_counts(doc, removed))
        total.clean_chars += len(doc.clean)
        total.clean_kept += kept
        total.documents += 1
    return total
