"""The RefineX program language: deletion-only edits over a line-numbered document, and its parser.

The vocabulary is fixed by docs/method.md (our operational definition of RefineX / ProX programs)::

    keep_doc()                      keep the document (no document-level drop)
    drop_doc()                      drop the whole document
    remove_lines(start, end)        delete lines start..end, inclusive, 1-based
    remove_str(line, "substring")   delete the first occurrence of an exact substring within one line

One statement per line; blank lines are ignored. The string argument is a JSON string literal
(double quotes, JSON escapes), so every substring is representable and parsing is exact. The parser
rejects anything else (another function, a keyword argument, a single-quoted string, a zero or
reversed line range, an empty or multi-line substring, ``keep_doc()`` together with ``drop_doc()``)
with :class:`ProgramError`. It is hand-written on purpose: Python's ``ast`` would accept far more
than this grammar (implicit string concatenation, f-strings, raw and byte strings), and a small
regular grammar is what a small model can learn and a reviewer can read in full.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from proda.errors import InputError

_ELISION_SAVES = 32  # a line is elided only when that hides more than the marker costs
MAX_STATEMENTS = 10_000
"""Longest program accepted: a model that loops emits thousands of lines; they fail closed."""

_KEEP = re.compile(r"keep_doc\(\s*\)")
_DROP = re.compile(r"drop_doc\(\s*\)")
_LINES = re.compile(r"remove_lines\(\s*(\d{1,9})\s*,\s*(\d{1,9})\s*\)")
# A JSON string literal: any character but a quote, a backslash or a control character, or an escape.
# json.loads then decodes it and rejects invalid escapes.
_STR = re.compile(r'remove_str\(\s*(\d{1,9})\s*,\s*("(?:[^"\\\x00-\x1f]|\\.)*")\s*\)')


class ProgramError(InputError):
    """A program is outside the language. ``line`` is the 1-based statement line, ``reason`` why."""

    def __init__(self, reason: str, *, line: int | None = None) -> None:
        super().__init__(reason, source="program", line=line)


@dataclass(frozen=True, slots=True)
class KeepDoc:
    """``keep_doc()``: the document is kept (edits, if any, still apply)."""

    def render(self) -> str:
        return "keep_doc()"


@dataclass(frozen=True, slots=True)
class DropDoc:
    """``drop_doc()``: the whole document is deleted."""

    def render(self) -> str:
        return "drop_doc()"


@dataclass(frozen=True, slots=True)
class RemoveLines:
    """``remove_lines(start, end)``: delete lines ``start``..``end`` (1-based, inclusive)."""

    start: int
    end: int

    def render(self) -> str:
        return f"remove_lines({self.start}, {self.end})"


@dataclass(frozen=True, slots=True)
class RemoveStr:
    """``remove_str(line, text)``: delete the first occurrence of ``text`` in line ``line`` (1-based)."""

    line: int
    text: str

    def render(self) -> str:
        return f"remove_str({self.line}, {json.dumps(self.text, ensure_ascii=False)})"


Op = KeepDoc | DropDoc | RemoveLines | RemoveStr


@dataclass(frozen=True)
class Program:
    """A parsed program: its statements in order. The empty program keeps the document unchanged."""

    ops: tuple[Op, ...] = ()
    # Derived once here, not per execution: at corpus scale the executor runs millions of times.
    drops: bool = field(init=False, repr=False, compare=False)
    edits: tuple[RemoveLines | RemoveStr, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "drops", any(isinstance(op, DropDoc) for op in self.ops))
        object.__setattr__(self, "edits", tuple(op for op in self.ops if isinstance(op, RemoveLines | RemoveStr)))

    def render(self) -> str:
        """The canonical text of the program (``keep_doc()`` when it has no statement); parses back to the same text."""
        return "\n".join(op.render() for op in self.ops) if self.ops else KeepDoc().render()


KEEP = Program((KeepDoc(),))
DROP = Program((DropDoc(),))


def _statement(text: str, lineno: int) -> Op:
    if _KEEP.fullmatch(text):
        return KeepDoc()
    if _DROP.fullmatch(text):
        return DropDoc()
    m = _LINES.fullmatch(text)
    if m:
        start, end = int(m.group(1)), int(m.group(2))
        if start < 1:
            raise ProgramError(f"remove_lines({start}, {end}): lines are numbered from 1", line=lineno)
        if end < start:
            raise ProgramError(f"remove_lines({start}, {end}): the range ends before it starts", line=lineno)
        return RemoveLines(start, end)
    m = _STR.fullmatch(text)
    if m:
        line = int(m.group(1))
        if line < 1:
            raise ProgramError(f"remove_str({line}, ...): lines are numbered from 1", line=lineno)
        try:
            value = json.loads(m.group(2))
        except json.JSONDecodeError as e:
            raise ProgramError(f"remove_str: bad string literal ({e.msg})", line=lineno) from e
        if not value:
            raise ProgramError("remove_str: the substring is empty", line=lineno)
        if "\n" in value:
            raise ProgramError("remove_str: the substring spans lines (use remove_lines)", line=lineno)
        return RemoveStr(line, value)
    name = text.split("(", 1)[0].strip()
    if name in ("keep_doc", "drop_doc", "remove_lines", "remove_str"):
        raise ProgramError(f"malformed {name}(...) statement: {_clip(text)!r}", line=lineno)
    raise ProgramError(f"not in the program vocabulary (keep_doc, drop_doc, remove_lines, remove_str): "
                       f"{_clip(text)!r}", line=lineno)


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def parse_program(text: str) -> Program:
    """Parse program text (one statement per line, blank lines ignored).

    Returns the :class:`Program`. Raises :class:`ProgramError` naming the first statement outside
    the language, for more than :data:`MAX_STATEMENTS` statements, and for a program that both keeps
    and drops the document.
    """
    ops: list[Op] = []
    for lineno, raw in enumerate(text.split("\n"), start=1):
        statement = raw.strip()
        if not statement:
            continue
        if len(ops) >= MAX_STATEMENTS:
            raise ProgramError(f"more than {MAX_STATEMENTS} statements", line=lineno)
        ops.append(_statement(statement, lineno))
    kinds = {type(op) for op in ops}
    if KeepDoc in kinds and DropDoc in kinds:
        raise ProgramError("keep_doc() and drop_doc() contradict each other")
    return Program(tuple(ops))


def number_lines(text: str, *, first: int = 1, max_line_chars: int | None = None) -> str:
    """The line-numbered view a refine model reads: ``"[n] line"`` per line of ``text.split("\\n")``.

    Lines are numbered from ``first`` exactly as the executor numbers them (only ``"\\n"`` separates
    lines). With ``max_line_chars``, a longer line shows its head and tail around an elision marker
    ``" [...N chars...] "``, so a 1 MB line costs a bounded prompt; a ``remove_str`` copying the
    marker simply finds nothing and is counted by the executor.
    """
    out: list[str] = []
    for i, line in enumerate(text.split("\n"), start=first):
        if max_line_chars is not None and len(line) > max_line_chars + _ELISION_SAVES:
            head = max_line_chars * 2 // 3
            tail = max_line_chars - head
            line = f"{line[:head]} [...{len(line) - head - tail} chars...] {line[len(line) - tail:]}"
        out.append(f"[{i}] {line}")
    return "\n".join(out)
