"""Readers: turn files into :class:`RawDocument` records, or :class:`Rejected` ones that say why not.

A reader never raises for a bad document: it yields a :class:`Rejected` naming the item and the
reason, and goes on with the next one, so one broken file cannot stop a corpus run and nothing is
dropped silently. Only problems of the environment (a missing optional dependency) raise.

Supported inputs:

- JSONL, one document per line with fields ``id``, ``discipline``, ``text`` (required) and
  ``title``, ``book``, ``license``, ``source`` (optional); unknown fields are ignored;
- Markdown and plain-text files (``*.md``, ``*.markdown``, ``*.txt``), alone or in folders;
- PDF files with a text layer (read with ``pypdf``);
- web pages (``*.html``, ``*.htm``), and JSONL records with an ``html`` field instead of ``text``:
  the page's visible text with its block structure (:mod:`.html`), boilerplate included (cleaning
  it is ``proda refine``'s job). A page in another charset than UTF-8 is decoded from its declared
  or detected charset, not rejected; a page with no visible text is ``empty``, one over
  :data:`~proda.pipelines.ingest.html.MAX_HTML_BYTES` is ``too_large``.

Checks shared by every format: an empty document, binary content (NUL bytes or many control
characters), bytes that are not UTF-8 (rejected with the byte offset, never guessed), a line longer
than :data:`MAX_LINE_BYTES` (one giant line cannot be split on paragraph boundaries), and a
discipline that is not a snake_case name.
"""

from __future__ import annotations

import json
import re
from codecs import BOM_UTF8
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from proda.errors import DependencyMissing
from proda.pipelines.ingest.html import HTML_SUFFIXES, PageText, html_to_text, page_text_from_bytes
from proda.schema.models import Discipline, NonEmpty

TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
PDF_SUFFIXES = frozenset({".pdf"})
MAX_LINE_BYTES = 1_000_000
"""The longest line accepted, in UTF-8 bytes: beyond it a "document" is a dump, not prose."""
MAX_CONTROL_RATIO = 0.05
"""Share of control characters (other than tab and line breaks) above which text counts as binary."""

DISCIPLINE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # the same rule as models.Discipline
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_TITLE = re.compile(r"^#[ \t]+(\S.*?)[ \t#]*$", re.MULTILINE)
_SAMPLE_CHARS = 1 << 16

RejectCode = Literal[
    "not_found", "unreadable", "unsupported_file", "empty", "binary", "not_utf8", "line_too_long",
    "malformed_json", "missing_field", "bad_field", "bad_discipline", "no_text_layer", "unreadable_pdf",
    "encrypted_pdf", "duplicate_id", "too_large",
]


class RawDocument(BaseModel):
    """A document as read from its source, before normalisation and chunking."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_id: NonEmpty
    discipline: Discipline
    title: str = ""
    text: str
    book: str = ""
    license: str = ""
    source: str = ""
    origin: str = ""  # where it was read: "file:line" for JSONL, else the file path


@dataclass(frozen=True)
class Rejected:
    """An input that is not ingested: ``item`` is its source id or path, ``code`` the reason's kind
    (what reports count by) and ``reason`` the human-readable explanation."""

    item: str
    reason: str
    code: RejectCode
    origin: str = ""

    def __str__(self) -> str:
        where = f" ({self.origin})" if self.origin and self.origin != self.item else ""
        return f"{self.item}{where}: {self.reason}"


Item = RawDocument | Rejected


class _Reject(Exception):
    """Internal control flow: raised by checks, always turned into a :class:`Rejected` by the reader."""

    def __init__(self, code: RejectCode, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def check_text(text: str) -> tuple[bool, str]:
    """Filter: ``(keep, reason)`` for decoded document text; ``reason`` is ``""`` when kept."""
    try:
        _check_text(text)
    except _Reject as r:
        return False, r.reason
    return True, ""


def _check_text(text: str) -> None:
    if not text.strip():
        raise _Reject("empty", "empty document")
    nul = text.find("\x00")
    if nul >= 0:
        raise _Reject("binary", f"binary content (NUL character at position {nul})")
    sample = text[:_SAMPLE_CHARS]
    controls = len(_CONTROL_CHARS.findall(sample))
    if controls > MAX_CONTROL_RATIO * len(sample):
        raise _Reject("binary", f"binary content ({controls / len(sample):.0%} control characters)")
    longest = max(text.splitlines(), key=len)
    if len(longest) * 4 > MAX_LINE_BYTES and len(longest.encode("utf-8")) > MAX_LINE_BYTES:
        size = len(longest.encode("utf-8"))
        raise _Reject("line_too_long", f"a single line of {_mb(size)} with no line or paragraph breaks "
                                       f"(limit {_mb(MAX_LINE_BYTES)})")


def _decode(data: bytes) -> str:
    """Strict UTF-8 decoding of a whole file; raises :class:`_Reject` on empty, binary or non-UTF-8 bytes."""
    offset = 0
    if data.startswith(BOM_UTF8):
        data, offset = data[len(BOM_UTF8):], len(BOM_UTF8)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise _Reject("not_utf8", "not valid UTF-8: UTF-16 text (byte-order mark at byte 0); re-save it as UTF-8")
    if not data.strip():
        raise _Reject("empty", "empty document")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _Reject("binary", f"binary content (NUL byte at byte {nul + offset})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Reject("not_utf8", f"not valid UTF-8 at byte {e.start + offset}") from None
    _check_text(text)
    return text


def _discipline(value: str, hint: str) -> str:
    if not DISCIPLINE_PATTERN.match(value):
        raise _Reject("bad_discipline", f"discipline {value!r} is not a snake_case name (lower-case letters, "
                                        f"digits and '_', starting with a letter); {hint}")
    return value


def _source_id(file: Path, root: Path, discipline: str) -> str:
    """``discipline/relative/path``: the same id whether the discipline folder or its parent was read."""
    rel = file.relative_to(root).as_posix()
    return rel if rel.startswith(f"{discipline}/") else f"{discipline}/{rel}"


def _file_discipline(file: Path, root: Path, discipline: str | None) -> str:
    """The option if given; else the first folder below ``root`` on the file's path, or the name of
    ``root`` itself for a file directly inside it (``corpus/economics/ch1/a.md`` read from ``corpus``
    and ``economics/a.md`` read from ``economics`` are both economics)."""
    if discipline is not None:
        return _discipline(discipline, "fix the discipline option")
    parts = file.relative_to(root).parts
    folder = parts[0] if len(parts) > 1 else root.resolve().name
    return _discipline(folder, "name the folder after the discipline or pass --discipline")


# --- JSONL ---------------------------------------------------------------------------------------

_REQUIRED = ("id", "discipline", "text")
_OPTIONAL = ("title", "book", "license", "source")


def _parse_line(raw: bytes, offset: int) -> dict[str, Any]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Reject("not_utf8", f"not valid UTF-8 at byte {offset + e.start}") from None
    try:
        data = json.loads(line)
    except json.JSONDecodeError as e:
        raise _Reject("malformed_json", f"malformed JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(data, dict):
        raise _Reject("malformed_json", f"expected a JSON object, got {type(data).__name__}")
    return data


def _page_text(page: PageText) -> str:
    """The visible text of a converted page; raises :class:`_Reject` when there is none to ingest."""
    if "html_too_large" in page.issues:
        raise _Reject("too_large", "web page larger than the HTML limit; not converted")
    if not page.text.strip():
        why = "scripts or markup only" if "html_no_visible_text" in page.issues else "no markup"
        raise _Reject("empty", f"web page with no visible text ({why})")
    return page.text


def _jsonl_document(data: dict[str, Any], default_discipline: str | None, origin: str) -> RawDocument:
    if data.get("discipline") is None and default_discipline is not None:
        data = {**data, "discipline": default_discipline}
    if data.get("text") is None and isinstance(data.get("html"), str):
        page = html_to_text(data["html"])
        data = {**data, "text": _page_text(page)}
        if page.title and data.get("title") is None:
            data["title"] = page.title
    missing = [k for k in _REQUIRED if data.get(k) is None or (k == "id" and not str(data[k]).strip())]
    if missing:
        raise _Reject("missing_field", f"missing required field(s): {', '.join(missing)}")
    for k in (*_REQUIRED, *_OPTIONAL):
        if data.get(k) is not None and not isinstance(data[k], str):
            raise _Reject("bad_field", f"field {k!r} must be a string, got {type(data[k]).__name__}")
    discipline = _discipline(data["discipline"], "fix the record's 'discipline' field")
    _check_text(data["text"])
    return RawDocument(source_id=data["id"].strip(), discipline=discipline, text=data["text"], origin=origin,
                       **{k: data[k] for k in _OPTIONAL if data.get(k) is not None})


def read_jsonl(path: Path, discipline: str | None = None) -> Iterator[Item]:
    """Yield one item per non-blank line of a JSONL file (streamed, so any size fits).

    ``discipline`` fills in records that have none. A rejected line is named by its ``id`` when it
    has one, else by ``path:line``; the reason starts with the line number.
    """
    try:
        fh = path.open("rb")
    except OSError as e:
        yield Rejected(str(path), f"cannot read: {e.strerror}", "unreadable", str(path))
        return
    with fh:
        offset = 0
        for lineno, raw in enumerate(fh, start=1):
            origin = f"{path}:{lineno}"
            start, offset = offset, offset + len(raw)
            if lineno == 1 and raw.startswith(BOM_UTF8):  # editors on some systems open a UTF-8 file with one
                raw, start = raw[len(BOM_UTF8):], len(BOM_UTF8)
            if not raw.strip():
                continue
            data: dict[str, Any] = {}
            try:
                data = _parse_line(raw, start)
                yield _jsonl_document(data, discipline, origin)
            except _Reject as r:
                sid = data.get("id")
                item = sid.strip() if isinstance(sid, str) and sid.strip() else origin
                yield Rejected(item, f"line {lineno}: {r.reason}", r.code, origin)


# --- Markdown and plain text ---------------------------------------------------------------------


def _read_text_file(file: Path, root: Path, discipline: str | None) -> Item:
    try:
        disc = _file_discipline(file, root, discipline)
        text = _decode(file.read_bytes())
    except _Reject as r:
        return Rejected(str(file), r.reason, r.code, str(file))
    except OSError as e:
        return Rejected(str(file), f"cannot read: {e.strerror}", "unreadable", str(file))
    m = _TITLE.search(text)
    title = " ".join(m.group(1).split()) if m else file.stem
    return RawDocument(source_id=_source_id(file, root, disc), discipline=disc, title=title, text=text,
                       source=file.name, origin=str(file))


def _walk(root: Path, suffixes: frozenset[str] | None) -> Iterator[Path]:
    """Files under ``root`` in a stable order, skipping hidden files and folders."""
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root).parts
        if any(part.startswith(".") for part in rel) or not file.is_file():
            continue
        if suffixes is None or file.suffix.lower() in suffixes:
            yield file


def read_text_folder(path: Path, discipline: str | None = None) -> Iterator[Item]:
    """Yield one item per Markdown or text file under ``path`` (recursively, sorted by path).

    The discipline is ``discipline`` if given, else the name of the first folder below ``path`` on
    the file's path, or the name of ``path`` itself for files directly inside it. The title
    is the first ``# `` heading, else the file name without suffix. The source id is
    ``discipline/relative/path`` (the relative path alone if it already starts with the discipline),
    so naming the discipline folder or its parent gives the same ids.
    """
    for file in _walk(path, TEXT_SUFFIXES):
        yield _read_text_file(file, path, discipline)


# --- web pages -----------------------------------------------------------------------------------


def read_html(path: Path, discipline: str | None = None, *, root: Path | None = None) -> Item:
    """Read a web page as its visible text (blocks on their own lines, boilerplate kept).

    Returns a :class:`RawDocument` titled by the page's ``<title>`` (else the file name), or a
    :class:`Rejected` for a page with no visible text (``empty``), one over the size limit
    (``too_large``) or an unreadable file. Bytes that are not UTF-8 are decoded from the page's
    declared or detected charset. ``root`` works as for :func:`read_pdf`. Raises
    :class:`DependencyMissing` without resiliparse.
    """
    origin = str(path)
    try:
        disc = _file_discipline(path, root or path.parent, discipline)
        page, _encoding = page_text_from_bytes(path.read_bytes())
        text = _page_text(page)
        _check_text(text)
    except _Reject as r:
        return Rejected(origin, r.reason, r.code, origin)
    except OSError as e:
        return Rejected(origin, f"cannot read: {e.strerror}", "unreadable", origin)
    return RawDocument(source_id=_source_id(path, root or path.parent, disc), discipline=disc,
                       title=page.title or path.stem, text=text, source=path.name, origin=origin)


# --- PDF -----------------------------------------------------------------------------------------


def read_pdf(path: Path, discipline: str | None = None, *, root: Path | None = None) -> Item:
    """Read the text layer of a PDF, one paragraph break between pages.

    Returns a :class:`RawDocument`, or a :class:`Rejected` for a PDF without a text layer
    (``"no text layer (scanned PDF?)"``), an encrypted or unreadable one. ``root`` is the folder that
    was read (default: the file's folder): the source id and the discipline derive from the path
    below it as for :func:`read_text_folder`. Raises :class:`DependencyMissing` when
    ``pypdf`` is not installed.
    """
    try:
        from pypdf import PdfReader
    except ImportError as e:
        raise DependencyMissing("pypdf", why="to read PDF files") from e
    origin = str(path)
    try:
        disc = _file_discipline(path, root or path.parent, discipline)
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise _Reject("encrypted_pdf", "encrypted PDF (needs a password)")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except _Reject as r:
        return Rejected(origin, r.reason, r.code, origin)
    except OSError as e:
        return Rejected(origin, f"cannot read: {e.strerror}", "unreadable", origin)
    except Exception as e:  # noqa: BLE001 - a parser of untrusted files can fail in any way; reject this one file
        return Rejected(origin, f"unreadable PDF: {type(e).__name__}: {e}", "unreadable_pdf", origin)
    text = "\n\n".join(p for p in pages if p)
    if not text:
        return Rejected(origin, "no text layer (scanned PDF?)", "no_text_layer", origin)
    try:
        _check_text(text)
    except _Reject as r:
        return Rejected(origin, r.reason, r.code, origin)
    title = " ".join(str(meta_title).split()) or path.stem
    return RawDocument(source_id=_source_id(path, root or path.parent, disc), discipline=disc, title=title,
                       text=text, source=path.name, origin=origin)


# --- dispatch ------------------------------------------------------------------------------------


def _read_file(file: Path, root: Path, discipline: str | None) -> Iterator[Item]:
    suffix = file.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from read_jsonl(file, discipline)
    elif suffix in TEXT_SUFFIXES:
        yield _read_text_file(file, root, discipline)
    elif suffix in PDF_SUFFIXES:
        yield read_pdf(file, discipline, root=root)
    elif suffix in HTML_SUFFIXES:
        yield read_html(file, discipline, root=root)
    else:
        known = ", ".join(sorted(JSONL_SUFFIXES | TEXT_SUFFIXES | PDF_SUFFIXES | HTML_SUFFIXES))
        yield Rejected(str(file), f"unsupported file type {suffix or '(none)'!r}; supported: {known}",
                       "unsupported_file", str(file))


def read_any(paths: Iterable[Path | str], discipline: str | None = None) -> Iterator[Item]:
    """Yield the items of every path in order: JSONL files, Markdown/text files, PDFs, web pages, or
    folders of them (recursively, sorted; hidden entries skipped, unsupported files rejected).

    ``discipline`` overrides the folder-derived discipline of files and fills in JSONL records that
    lack one. A missing path is a :class:`Rejected` (``not_found``). Raises only
    :class:`DependencyMissing` (a PDF without ``pypdf`` installed).
    """
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for file in _walk(path, None):
                yield from _read_file(file, path, discipline)
        elif path.is_file():
            yield from _read_file(path, path.parent, discipline)
        else:
            yield Rejected(str(path), "no such file or folder", "not_found", str(path))
