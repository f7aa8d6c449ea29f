"""Distillation: (raw, expert-refined) pair -> the minimal deletion program, plus the reliability filter.

RefineX (docs/method.md) asks the expert for refined *text* and derives the program from the edit
between raw and refined text, because experts asked to write programs directly hallucinate. Here:

1. **Line alignment.** Identical lines that occur once on each side anchor the alignment (a
   longest common subsequence over them, as in patience diff: repeated lines such as blank ones
   would anchor in the wrong place). Between two anchors, a raw block and a refined block differ;
   their lines are paired by a small dynamic programme that maximises what the pairs keep
   (characters in common, less a cost per run of inserted text), so an expert's in-line edit
   ("photo- synthesis" -> "photosynthesis") pairs with its raw line while a coincidental overlap
   between a menu line and a rewritten sentence does not. Unpaired raw lines become
   ``remove_lines`` ranges.
2. **Character alignment.** Each paired line is aligned by characters (again minimal insert/delete);
   its deleted spans become ``remove_str`` statements. Because ``remove_str`` removes the *first*
   occurrence in the line, a span whose text also occurs earlier is slid across equal characters to
   an equivalent position where it is the first occurrence ("the cat the dog" -> delete " the", not
   "the "); a span with no such position cannot be said in the language and is kept (counted as
   ``unexpressible_chars``).
3. **Inserted characters** (refined text no raw character explains) are what deletion cannot do:
   the expert rewrote. :class:`ReliabilityFilter` discards pairs above a threshold, with the reason.

Alignment uses rapidfuzz's ``Indel`` / ``LCSseq`` (bit-parallel C++ longest-common-subsequence,
already a dependency) instead of ``difflib``: difflib's ``SequenceMatcher`` is a heuristic (longest
contiguous blocks, junk heuristics) that does not give the minimal edit the paper asks for, and it
is orders of magnitude slower on long lines. The pairing of lines inside a changed block is ours,
since no library pairs lines by a custom score.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz.distance import Indel, LCSseq

from proda.pipelines.refine.interpreter import execute
from proda.pipelines.refine.program import DROP, KEEP, Op, Program, RemoveLines, RemoveStr

EDIT_COST = 8
"""Characters a line pairing must keep per insertion it needs, so scattered coincidental overlap never pairs."""
MAX_BLOCK_CELLS = 40_000
"""Largest raw x refined line block paired by the dynamic programme; larger blocks pair only equal lines."""
MAX_CONTIGUOUS_CHARS = 20_000
"""Longest line pair for which difflib's contiguous-block alignment is also tried (it is quadratic)."""
MAX_ALIGN_CHARS = 200_000
"""Longest line pair aligned by characters (the bit-parallel LCS is quadratic/64); longer pairs do not pair."""


@dataclass(frozen=True, slots=True)
class Distillation:
    """A distilled pair.

    ``program`` is the minimal deletion program; ``approximation`` what it makes of the raw text
    (the closest deletion-only approximation of the refined text the language can state).
    ``inserted_chars`` counts refined characters no raw character explains (``inserted_nonspace``
    those that are not whitespace); ``unexpressible_chars`` deletions the language could not state.
    """

    program: Program
    approximation: str
    raw_chars: int
    refined_chars: int
    refined_nonspace: int
    deleted_chars: int
    inserted_chars: int
    inserted_nonspace: int
    unexpressible_chars: int
    lines_removed: int
    str_removals: int

    @property
    def insert_ratio(self) -> float:
        """Non-whitespace insertions per non-whitespace refined character (0 for an empty refinement)."""
        return self.inserted_nonspace / self.refined_nonspace if self.refined_nonspace else 0.0

    @property
    def unexpressible_ratio(self) -> float:
        """Deletions the language could not state, per raw character."""
        return self.unexpressible_chars / self.raw_chars if self.raw_chars else 0.0


@dataclass(frozen=True, slots=True)
class ReliabilityFilter:
    """The paper's reliability filter: is the expert's rewrite explained by deletions?

    ``max_insert_ratio`` bounds the share of the refined text (non-whitespace characters) that
    would have to be inserted; ``max_unexpressible_ratio`` the share of raw text the expert deleted
    but the language cannot delete. Whitespace-only changes are tolerated: experts reflow blank lines.
    """

    max_insert_ratio: float = 0.05
    max_unexpressible_ratio: float = 0.05

    def __call__(self, d: Distillation) -> tuple[bool, str]:
        """``(keep, reason)``: ``reason`` says why a pair is discarded, ``""`` when kept."""
        if d.insert_ratio > self.max_insert_ratio:
            return False, (f"expert rewrite not explained by deletions: {d.inserted_nonspace} inserted characters "
                           f"({d.insert_ratio:.1%} of the refined text > {self.max_insert_ratio:.1%})")
        if d.unexpressible_ratio > self.max_unexpressible_ratio:
            return False, (f"deletions the program language cannot state: {d.unexpressible_chars} characters "
                           f"({d.unexpressible_ratio:.1%} of the raw text > {self.max_unexpressible_ratio:.1%})")
        return True, ""


def _nonspace(text: str) -> int:
    return len(text) - sum(1 for ch in text if ch.isspace())


def _pair_score(raw: str, refined: str) -> int:
    """What pairing two lines is worth; <= 0 means do not pair.

    Characters kept, less EDIT_COST per run of refined text the raw line does not explain (an
    insertion) and one per deleted run. Deletions are what programs do; insertions are what a
    coincidental match between unrelated lines is made of.
    """
    if not raw.strip() or not refined.strip():
        return 1 if raw == refined else 0
    if len(raw) + len(refined) > MAX_ALIGN_CHARS:
        return 0
    # cheap bound first: most lines of a changed block have little in common
    if 2 * LCSseq.similarity(raw, refined) < len(refined.strip()):
        return 0
    kept = cost = 0
    for op in Indel.opcodes(raw, refined):
        if op.tag == "equal":
            kept += op.src_end - op.src_start
        else:
            cost += EDIT_COST if op.tag == "insert" else 1
    return kept - cost


def _pair_block(raw: list[str], refined: list[str]) -> list[tuple[int, int]]:
    """Monotone pairing of a changed block's lines maximising the summed pair score."""
    if not raw or not refined or len(raw) * len(refined) > MAX_BLOCK_CELLS:
        return []
    rows, cols = len(raw), len(refined)
    score = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(1, rows + 1):
        for j in range(1, cols + 1):
            best = max(score[i - 1][j], score[i][j - 1])
            s = _pair_score(raw[i - 1], refined[j - 1])
            if s > 0:
                best = max(best, score[i - 1][j - 1] + s)
            score[i][j] = best
    pairs: list[tuple[int, int]] = []
    i, j = rows, cols
    while i and j:
        if score[i][j] == score[i - 1][j]:
            i -= 1
        elif score[i][j] == score[i][j - 1]:
            j -= 1
        else:
            pairs.append((i - 1, j - 1))
            i -= 1
            j -= 1
    pairs.reverse()
    return pairs


def _exact_anchors(raw: list[str], refined: list[str], raw_idx: list[int], ref_idx: list[int]) -> list[tuple[int, int]]:
    """Pairs of identical lines on a longest common subsequence of the lines at the given indices."""
    anchors: list[tuple[int, int]] = []
    for op in Indel.opcodes([raw[i] for i in raw_idx], [refined[j] for j in ref_idx]):
        if op.tag == "equal":
            anchors.extend(zip(raw_idx[op.src_start:op.src_end], ref_idx[op.dest_start:op.dest_end], strict=True))
    return anchors


def _between(raw: list[str], refined: list[str], anchors: list[tuple[int, int]], lo_raw: int, hi_raw: int,
             lo_ref: int, hi_ref: int, pair: Callable[[int, int, int, int], list[tuple[int, int]]]
             ) -> list[tuple[int, int]]:
    """The anchors plus ``pair`` applied to every block between consecutive anchors."""
    pairs: list[tuple[int, int]] = []
    prev_raw, prev_ref = lo_raw, lo_ref
    for a, b in [*anchors, (hi_raw, hi_ref)]:
        pairs.extend(pair(prev_raw, a, prev_ref, b))
        if a < hi_raw:
            pairs.append((a, b))
        prev_raw, prev_ref = a + 1, b + 1
    return pairs


def _line_pairs(raw: list[str], refined: list[str]) -> list[tuple[int, int]]:
    """(raw index, refined index) pairs aligning the lines of two texts.

    As in patience diff, the anchors are identical lines that occur exactly once on each side:
    a repeated line (a blank line above all, but also a duplicated sentence) anchored by a plain LCS
    can pull a block out of place and leave an edited line without its partner. Blocks between
    anchors are paired by :func:`_pair_block`; a block too large for it is first anchored on all its
    identical non-blank lines.
    """
    raw_count = Counter(raw)
    ref_count = Counter(refined)

    def unique(line: str) -> bool:
        return bool(line.strip()) and raw_count[line] == 1 and ref_count[line] == 1

    def block(lo_raw: int, hi_raw: int, lo_ref: int, hi_ref: int) -> list[tuple[int, int]]:
        if (hi_raw - lo_raw) * (hi_ref - lo_ref) <= MAX_BLOCK_CELLS:
            return [(lo_raw + x, lo_ref + y) for x, y in _pair_block(raw[lo_raw:hi_raw], refined[lo_ref:hi_ref])]
        inner = _exact_anchors(raw, refined, [i for i in range(lo_raw, hi_raw) if raw[i].strip()],
                               [j for j in range(lo_ref, hi_ref) if refined[j].strip()])
        return _between(raw, refined, inner, lo_raw, hi_raw, lo_ref, hi_ref, small_block)

    def small_block(lo_raw: int, hi_raw: int, lo_ref: int, hi_ref: int) -> list[tuple[int, int]]:
        return [(lo_raw + x, lo_ref + y) for x, y in _pair_block(raw[lo_raw:hi_raw], refined[lo_ref:hi_ref])]

    anchors = _exact_anchors(raw, refined, [i for i, line in enumerate(raw) if unique(line)],
                             [j for j, line in enumerate(refined) if unique(line)])
    return _between(raw, refined, anchors, 0, len(raw), 0, len(refined), block)


def _first_occurrence_span(current: str, start: int, length: int) -> int | None:
    """A position equivalent to deleting ``current[start:start+length]`` where that text occurs first.

    Deleting ``length`` characters at ``p`` or ``p+1`` gives the same string when
    ``current[p] == current[p+length]``, so the span slides over such runs; returns the leftmost
    equivalent position whose text is the first occurrence in ``current``, or None.
    """
    lo = start
    while lo > 0 and current[lo - 1] == current[lo + length - 1]:
        lo -= 1
    hi = start
    while hi + length < len(current) and current[hi] == current[hi + length]:
        hi += 1
    for p in range(lo, hi + 1):
        if current.find(current[p:p + length]) == p:
            return p
    return None


Edit = tuple[str, int, int, int, int]  # (tag, raw start, raw end, refined start, refined end)


def _char_edits(raw: str, refined: str) -> list[Edit]:
    """A minimal insert/delete character alignment of two lines, preferring few contiguous edits.

    The LCS alignment is optimal in kept characters but picks an arbitrary one among equals, which
    can shred one deleted snippet into fragments matched against nearby letters (one remove_str
    becomes four). difflib's longest-contiguous-block alignment keeps snippets whole but is not
    always optimal; it is used when it keeps as many characters, since then it is the smaller program.
    """
    lcs: list[Edit] = [(op.tag, op.src_start, op.src_end, op.dest_start, op.dest_end)
                       for op in Indel.opcodes(raw, refined)]
    if len(raw) + len(refined) > MAX_CONTIGUOUS_CHARS:
        return lcs
    blocks: list[Edit] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, raw, refined, autojunk=False).get_opcodes():
        if tag == "replace":
            blocks.extend([("delete", i1, i2, j1, j1), ("insert", i2, i2, j1, j2)])
        else:
            blocks.append((tag, i1, i2, j1, j2))

    def kept(edits: list[Edit]) -> int:
        return sum(i2 - i1 for tag, i1, i2, _, _ in edits if tag == "equal")

    def fragments(edits: list[Edit]) -> int:
        return sum(1 for tag, *_ in edits if tag != "equal")

    return blocks if (kept(blocks), -fragments(blocks)) >= (kept(lcs), -fragments(lcs)) else lcs


def _line_edits(raw: str, refined: str, lineno: int) -> tuple[list[RemoveStr], int, int, int]:
    """remove_str statements turning ``raw`` into its deletion-only approximation of ``refined``.

    Returns (statements, inserted characters, inserted non-space characters, unexpressible characters).
    """
    ops: list[RemoveStr] = []
    inserted = inserted_nonspace = unexpressible = 0
    current = raw
    shift = 0  # characters already deleted left of the span being placed
    for tag, i1, i2, j1, j2 in _char_edits(raw, refined):
        if tag == "insert":
            text = refined[j1:j2]
            inserted += len(text)
            inserted_nonspace += _nonspace(text)
        elif tag == "delete":
            length = i2 - i1
            pos = _first_occurrence_span(current, i1 - shift, length)
            if pos is None:
                unexpressible += length
                continue
            ops.append(RemoveStr(lineno, current[pos:pos + length]))
            current = current[:pos] + current[pos + length:]
            shift += length
    return ops, inserted, inserted_nonspace, unexpressible


def _merge_runs(lines: list[str], gone: list[bool], edited: set[int]) -> list[bool]:
    """Fewer ``remove_lines`` statements for the same output.

    Where one kept line separates two removed runs and a line at either end of the span has the
    same text (typically a blank line after an advertisement), keeping that end line instead gives
    the same text with one range, not two. A line with substring removals is never swapped: its
    twin would come out without them.
    """
    gone = list(gone)
    n = len(lines)
    k = 1
    while k < n - 1:
        if not gone[k] and gone[k - 1] and gone[k + 1] and k not in edited:
            a = k - 1
            while a > 0 and gone[a - 1]:
                a -= 1
            c = k + 1
            while c < n - 1 and gone[c + 1]:
                c += 1
            if lines[c] == lines[k]:
                gone[k], gone[c] = True, False
            elif lines[a] == lines[k]:
                gone[k], gone[a] = True, False
        k += 1
    return gone


def distill(raw: str, refined: str) -> Distillation:
    """The minimal deletion program from ``raw`` towards ``refined``; returns a :class:`Distillation`.

    An empty (whitespace-only) refinement of a non-empty raw text is the expert dropping the
    document: ``drop_doc()``. Identical texts give ``keep_doc()``. Never raises.
    """
    if not refined.strip() and raw:
        return Distillation(DROP, "", len(raw), len(refined), 0, len(raw), 0, 0, 0, raw.count("\n") + 1, 0)
    if raw == refined:
        return Distillation(KEEP, raw, len(raw), len(refined), _nonspace(refined), 0, 0, 0, 0, 0, 0)
    raw_lines, ref_lines = raw.split("\n"), refined.split("\n")
    pairs = _line_pairs(raw_lines, ref_lines)
    paired_raw = {i for i, _ in pairs}
    str_ops: list[Op] = []
    inserted = inserted_nonspace = unexpressible = 0
    for i, j in pairs:
        if raw_lines[i] == ref_lines[j]:
            continue
        ops, ins, ins_ns, unexp = _line_edits(raw_lines[i], ref_lines[j], i + 1)
        str_ops.extend(ops)
        inserted += ins
        inserted_nonspace += ins_ns
        unexpressible += unexp
    paired_ref = {j for _, j in pairs}
    for j, line in enumerate(ref_lines):
        if j not in paired_ref:
            inserted += len(line)
            inserted_nonspace += _nonspace(line)
    edited = {op.line - 1 for op in str_ops if isinstance(op, RemoveStr)}
    gone_flags = _merge_runs(raw_lines, [i not in paired_raw for i in range(len(raw_lines))], edited)
    ranges: list[Op] = []
    start: int | None = None
    for i in range(len(raw_lines) + 1):
        gone = i < len(raw_lines) and gone_flags[i]
        if gone and start is None:
            start = i
        elif not gone and start is not None:
            ranges.append(RemoveLines(start + 1, i))
            start = None
    removed = sum(gone_flags)
    if removed == len(raw_lines):
        program = DROP  # a program that deletes every line is a drop
    elif str_ops or ranges:
        program = Program(tuple(str_ops + ranges))
    else:
        program = KEEP
    approximation = execute(program, raw).text
    return Distillation(program, approximation, len(raw), len(refined), _nonspace(refined),
                        len(raw) - len(approximation), inserted, inserted_nonspace, unexpressible, removed,
                        len(str_ops))
