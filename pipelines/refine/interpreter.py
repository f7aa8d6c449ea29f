"""The program interpreter: applies a parsed program to a document, by deletion only.

Order (docs/method.md): ``drop_doc`` first, then substring removals, then line ranges. Substring
removals address the *original* line numbers (ranges are applied after them, so numbering never
shifts under a program); several on one line apply in program order, each to the line as the
previous ones left it. Every primitive is a slice deletion (``line[:i] + line[i + k:]``) or the
omission of a whole line with its separator, so the output is always a subsequence of the input:
nothing is inserted, reordered or rewritten.

Problems that depend on the document are not errors; they are resolved deterministically and
counted in :attr:`Execution.issues`:

* ``line_out_of_range``: a statement names a line past the end; it does nothing;
* ``range_clipped``: a range starts inside the document and ends past it; it is cut at the last line;
* ``overlapping_range``: a range covers lines an earlier range already removed; the union is removed;
* ``str_not_found``: the substring is not in its line (any more); nothing is removed;
* ``str_in_removed_line``: a substring removal on a line that a range removes anyway;
* ``shadowed_by_drop``: any edit in a program that also drops the document.

A program whose edits delete every line is counted as a drop (:attr:`Execution.dropped`), not as
an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proda.pipelines.refine.program import Program, RemoveStr


@dataclass(frozen=True, slots=True)
class Execution:
    """What a program did to one document.

    ``text`` is the refined text; ``removed_spans`` the deleted lines as sorted, disjoint 0-based
    half-open ``(start, stop)`` spans (all lines for a drop); ``chars_removed`` counts deleted
    characters, line separators included.
    """

    text: str
    dropped: bool
    lines_in: int
    removed_spans: tuple[tuple[int, int], ...]
    chars_removed: int
    issues: dict[str, int] = field(default_factory=dict)

    @property
    def lines_removed(self) -> int:
        """How many lines were deleted."""
        return sum(stop - start for start, stop in self.removed_spans)

    @property
    def removed_lines(self) -> list[int]:
        """The 0-based indices of the deleted lines."""
        return [i for start, stop in self.removed_spans for i in range(start, stop)]


def execute(program: Program, text: str) -> Execution:
    """Apply ``program`` to ``text``; returns the :class:`Execution`. Never raises for any parsed program."""
    issues: dict[str, int] = {}  # a plain dict: a Counter per call costs more than the rest of a keep_doc()
    edits = program.edits
    if program.drops:
        n = text.count("\n") + 1
        if edits:
            issues["shadowed_by_drop"] = len(edits)
        return Execution("", True, n, ((0, n),), len(text), issues)
    if not edits:  # keep_doc() or the empty program: the common case at corpus scale
        return Execution(text, False, text.count("\n") + 1, (), 0, issues)

    lines = text.split("\n")
    n = len(lines)
    touched: list[int] = []
    spans: list[tuple[int, int]] = []
    for op in edits:
        if isinstance(op, RemoveStr):
            if op.line > n:
                _count(issues, "line_out_of_range")
                continue
            i = op.line - 1
            current = lines[i]
            pos = current.find(op.text)
            if pos < 0:
                _count(issues, "str_not_found")
                continue
            lines[i] = current[:pos] + current[pos + len(op.text):]
            touched.append(i)
        elif op.start > n:
            _count(issues, "line_out_of_range")
        elif op.end > n:
            _count(issues, "range_clipped")
            spans.append((op.start - 1, n))
        else:
            spans.append((op.start - 1, op.end))

    # ranges are merged into sorted disjoint spans, so the output is built from a few slices
    # rather than a per-line test: the executor stays far above 50 MB/s on one core
    merged: list[list[int]] = []
    for start, stop in sorted(spans):
        if merged and start <= merged[-1][1]:
            if start < merged[-1][1]:
                _count(issues, "overlapping_range")
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    if merged:
        kept: list[str] = []
        previous = 0
        for start, stop in merged:
            kept.extend(lines[previous:start])
            previous = stop
        kept.extend(lines[previous:])
        for i in touched:
            if any(start <= i < stop for start, stop in merged):
                _count(issues, "str_in_removed_line")
    else:
        kept = lines
    out = "\n".join(kept)
    removed = tuple((start, stop) for start, stop in merged)
    dropped = bool(merged) and merged[0][0] == 0 and merged[0][1] == n
    return Execution(out, dropped, n, removed, len(text) - len(out), issues)


def _count(issues: dict[str, int], issue: str) -> None:
    issues[issue] = issues.get(issue, 0) + 1


def is_subsequence(small: str, big: str) -> bool:
    """Whether ``small`` is a subsequence of ``big`` (the executor's guarantee; used by tests and checks)."""
    it = iter(big)
    return all(ch in it for ch in small)
