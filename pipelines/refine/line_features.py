"""Text-only features of a document's lines, for the line classifier (:mod:`.classifier`).

A web page converted to visible text (:mod:`proda.pipelines.ingest.html`) keeps one block per line:
paragraphs, list items (``•``), menu entries, table rows. Whether a line is boilerplate shows in
its own shape (length, sentence punctuation, share of function words, a bullet) and even more in its
neighbourhood: main content is a run of long, punctuated lines, while navigation, teasers and
footers come as runs of short ones. Link density, the strongest cue of HTML extractors, is not in
the text, so the features describe each line and windows of lines around it.

Every feature is computed from the document alone (no vocabulary of sites, domains or page terms);
the only word list is a few dozen English function words, which separate prose from labels.
Blank lines get a row too (all of it describes the line as blank); the classifier decides them
from their neighbours, not from their features.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

# English function words: prose has many (a third of its words), menus and labels almost none.
_FUNCTION_TEXT = """
a an the and or but if of to in on at by for with from as is are was were be been being it its this that these
those he she they we you i his her their our your my not no so than then there here which who whom what when
where why how all any can could would should will may might must do does did has have had into about over under
after before between through during also just more most such only very
"""
_FUNCTION_WORDS = frozenset(_FUNCTION_TEXT.split())
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_BULLET = re.compile(r"^\s*(?:[•◦▪▸►\-*+–—·]|\d{1,3}[.)])\s")
_SENTENCE_END = re.compile(r"[.!?…:;\"'”’)\]]\s*$")
_DIGIT = re.compile(r"\d")
_PUNCT = re.compile(r"[^\w\s]")
_UPPER = re.compile(r"[A-Z]")
_SEPARATOR = re.compile(r"\s[|/·•»>]\s|\t")
_LONG = 80
"""A line at least this long reads as prose in most layouts (shorter ones are labels, links, titles)."""

FEATURES = (
    "blank", "log_chars", "log_words", "bullet", "indent", "sentence_end", "punct_ratio", "digit_ratio",
    "upper_ratio", "title_ratio", "function_ratio", "mean_word_len", "separators", "log_repeats",
    "position", "char_position", "rel_max_len", "block_lines", "block_first", "block_last",
    "density_2", "density_5", "density_15", "long_5", "long_15", "function_5", "before_main", "after_main",
    "in_main", "dist_main", "log_doc_lines",
)
"""Names of the columns :func:`line_features` returns, in order."""


def _line_shape(line: str) -> list[float]:
    """The features of one line that depend on nothing else (blank lines: all zero)."""
    stripped = line.strip()
    if not stripped:
        return [1.0] + [0.0] * 12
    words = _WORD.findall(stripped)
    n = len(stripped)
    nw = len(words)
    title = sum(1 for w in words if w[0].isupper())
    function = sum(1 for w in words if w.lower() in _FUNCTION_WORDS)
    return [
        0.0,
        math.log1p(n),
        math.log1p(nw),
        1.0 if _BULLET.match(line) else 0.0,
        min(len(line) - len(line.lstrip()), 16) / 4.0,
        1.0 if _SENTENCE_END.search(stripped) else 0.0,
        len(_PUNCT.findall(stripped)) / n,
        len(_DIGIT.findall(stripped)) / n,
        len(_UPPER.findall(stripped)) / n,
        title / nw if nw else 0.0,
        function / nw if nw else 0.0,
        sum(len(w) for w in words) / nw / 10.0 if nw else 0.0,
        min(len(_SEPARATOR.findall(stripped)), 8) / 4.0,
    ]


def _window_mean(values: NDArray[np.float64], mask: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """Mean of ``values`` over non-blank lines within ``k`` non-blank lines either side (0 where none)."""
    idx = np.flatnonzero(mask)
    out = np.zeros(len(values))
    if not len(idx):
        return out
    v = values[idx]
    c = np.concatenate([[0.0], np.cumsum(v)])
    m = len(idx)
    lo = np.clip(np.arange(m) - k, 0, m)
    hi = np.clip(np.arange(m) + k + 1, 0, m)
    out[idx] = (c[hi] - c[lo]) / (hi - lo)
    # a blank line takes the window of the next non-blank line (the one it introduces)
    nxt = np.searchsorted(idx, np.arange(len(values)))
    blank = mask == 0
    out[blank] = out[idx[np.minimum(nxt[blank], m - 1)]]
    return out


def line_features(lines: Sequence[str]) -> NDArray[np.float32]:
    """A ``(len(lines), len(FEATURES))`` array describing every line of a document in its context."""
    n = len(lines)
    if n == 0:
        return np.zeros((0, len(FEATURES)), np.float32)
    shape = np.array([_line_shape(line) for line in lines], dtype=np.float64)
    blank = shape[:, 0]
    mask = 1.0 - blank
    chars = np.array([len(line.strip()) for line in lines], dtype=np.float64)
    repeats = Counter(line.strip() for line in lines)
    log_repeats = np.array([math.log(repeats[line.strip()]) if line.strip() else 0.0 for line in lines])
    nonblank = max(int(mask.sum()), 1)
    order = np.cumsum(mask) - mask  # non-blank lines before this one
    position = order / nonblank
    total_chars = max(chars.sum(), 1.0)
    char_position = (np.cumsum(chars) - chars) / total_chars
    rel_max = chars / max(chars.max(), 1.0)
    # blocks: runs of non-blank lines between blank lines
    block_id = np.cumsum(blank)
    block_sizes = Counter(block_id[mask > 0].tolist())
    block_lines = np.array([math.log1p(block_sizes.get(b, 0)) if m else 0.0 for b, m in zip(block_id, mask,
                                                                                           strict=True)])
    prev_blank = np.concatenate([[1.0], blank[:-1]])
    next_blank = np.concatenate([blank[1:], [1.0]])
    log_chars = shape[:, 1]
    is_long = (chars >= _LONG).astype(np.float64)
    function = shape[:, 10]
    long_idx = np.flatnonzero(is_long)
    # the main text: from the first to the last long line of the densest run of long lines
    if len(long_idx):
        density = _window_mean(is_long, mask, 5)
        centre = int(np.argmax(density * mask))
        main_lo = main_hi = centre
        while main_lo > 0 and density[main_lo - 1] > 0.2:
            main_lo -= 1
        while main_hi < n - 1 and density[main_hi + 1] > 0.2:
            main_hi += 1
    else:
        main_lo, main_hi = n, -1
    rows = np.arange(n)
    before = (rows < main_lo).astype(np.float64)
    after = (rows > main_hi).astype(np.float64)
    inside = 1.0 - before - after
    dist = np.where(before > 0, main_lo - rows, np.where(after > 0, rows - main_hi, 0)).astype(np.float64)
    features = np.column_stack([
        shape,
        log_repeats,
        position,
        char_position,
        rel_max,
        block_lines,
        prev_blank * mask,
        next_blank * mask,
        _window_mean(log_chars, mask, 2) / 6.0,
        _window_mean(log_chars, mask, 5) / 6.0,
        _window_mean(log_chars, mask, 15) / 6.0,
        _window_mean(is_long, mask, 5),
        _window_mean(is_long, mask, 15),
        _window_mean(function, mask, 5),
        before,
        after,
        inside,
        np.log1p(dist) / 5.0,
        np.full(n, math.log1p(n) / 8.0),
    ])
    return features.astype(np.float32)
