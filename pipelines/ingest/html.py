"""Web pages to visible text, one block per line: what `proda ingest` and `proda refine` read from HTML.

The converter is Resiliparse's ``extract_plain_text`` (Apache-2.0, a C++ DOM on lexbor), with the
block structure preserved and *nothing* removed but what a browser does not show (scripts, styles,
hidden elements): the raw text keeps the page's menus, cookie banners and footers, because cleaning
them is RefineX's job and must stay measurable. Chosen over inscriptis (Apache-2.0, pure Python on
lxml) after measuring both on 161 real pages (benchmarks/refinex_web.py): the same share of gold
content survives (0.983 of the snippets that must be kept), Resiliparse converts 9x faster (0.29 s
against 2.67 s for 28 MB on one core) and writes one line per block with list items bulleted
(``•``) and no layout padding, while inscriptis reproduces the page's indentation.

Bytes are decoded before parsing (:func:`decode_html`): UTF-8 when it is valid, else the charset
the page declares, else Resiliparse's detector; a page is never rejected for its encoding, only
marked. Problems are reported as issue codes, never raised: ``html_not_utf8`` (decoded from another
charset), ``html_empty`` (no markup at all), ``html_no_visible_text`` (e.g. scripts only),
``html_too_large`` (more than ``max_bytes``; not converted, the caller keeps the page aside).
"""

from __future__ import annotations

import json
import re
from codecs import BOM_UTF8
from dataclasses import dataclass, field
from pathlib import Path

from proda.errors import DependencyMissing

MAX_HTML_BYTES = 5_000_000
"""Largest page converted: beyond it a page is a data dump (inline images, JSON state), not a document."""
HTML_SUFFIXES = frozenset({".html", ".htm"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class PageText:
    """A page's visible text (``text``, blocks on their own lines), its ``<title>``, and what went wrong."""

    text: str
    title: str = ""
    issues: dict[str, int] = field(default_factory=dict)


def converter_name() -> str:
    """``resiliparse-<version>``: recorded with every converted page."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"resiliparse-{version('resiliparse')}"
    except PackageNotFoundError:
        return "resiliparse-?"


def _require() -> None:
    try:
        import resiliparse  # noqa: F401
    except ImportError as e:
        raise DependencyMissing("resiliparse", extra="web", why="to read HTML pages") from e


def decode_html(data: bytes) -> tuple[str, str]:
    """``(html, encoding)`` for a page's bytes; never fails (an undecodable byte becomes U+FFFD).

    UTF-8 (with or without BOM) when the bytes are valid UTF-8; otherwise the charset declared in a
    ``<meta>`` tag within the first 4 KB, if Python knows it and it decodes; otherwise Resiliparse's
    encoding detector. Raises :class:`DependencyMissing` without resiliparse.
    """
    data = data.removeprefix(BOM_UTF8)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    m = _META_CHARSET.search(data[:4096])
    if m:
        declared = m.group(1).decode("ascii", "replace").lower()
        try:
            return data.decode(declared), declared
        except (LookupError, UnicodeDecodeError):
            pass
    _require()
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    encoding = detect_encoding(data) or "cp1252"  # the web's most common legacy charset when nothing is detected
    return bytes_to_str(data, encoding), encoding


def html_to_text(html: str, *, max_bytes: int = MAX_HTML_BYTES) -> PageText:
    """The visible text of ``html`` with its block structure; a :class:`PageText` whose ``issues``
    say why it may be empty. Raises only :class:`DependencyMissing` (no resiliparse)."""
    _require()
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    if not html.strip():
        return PageText("", issues={"html_empty": 1})
    # characters are a lower bound on UTF-8 bytes; encode only when it could matter
    if len(html) > max_bytes or (len(html) * 4 > max_bytes and len(html.encode("utf-8")) > max_bytes):
        return PageText("", issues={"html_too_large": 1})
    tree = HTMLTree.parse(html)
    text = extract_plain_text(tree, preserve_formatting=True, main_content=False)
    title = " ".join((tree.title or "").split())
    # the converter pads some blocks with spaces; lines keep their indentation (list depth) but not
    # trailing blanks, so an equal line is equal text
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
    if not text.strip():
        return PageText("", title, {"html_no_visible_text": 1})
    return PageText(text, title)


def page_text_from_bytes(data: bytes, *, max_bytes: int = MAX_HTML_BYTES) -> tuple[PageText, str]:
    """:func:`decode_html` then :func:`html_to_text`; returns ``(page, encoding)``, with
    ``html_not_utf8`` among the issues when the page was not UTF-8."""
    if len(data) > max_bytes:
        return PageText("", issues={"html_too_large": 1}), ""
    html, encoding = decode_html(data)
    page = html_to_text(html, max_bytes=max_bytes)
    if encoding != "utf-8":
        page.issues["html_not_utf8"] = 1
    return page, encoding


def pack_pages(files: list[Path], dest: Path) -> int:
    """Write web-page files as JSONL records ``{"id", "html", "html_encoding", "source"}`` to ``dest``.

    The record-oriented stages (``proda refine run`` / ``distill``) shard, resume and report per
    JSONL line; packing the pages once gives HTML files the same behaviour. A page that is not UTF-8
    is decoded from its own charset (:func:`decode_html`) and says so in ``html_encoding``; the file
    is rewritten only when its content would change, so a rerun resumes. Returns the page count.
    Raises InputError for a file that cannot be read.
    """
    from proda.errors import InputError

    lines: list[str] = []
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as e:
            raise InputError(f"cannot read: {e.strerror}", source=str(file)) from e
        html, encoding = decode_html(data)
        lines.append(json.dumps({"id": str(file), "html": html,
                                 "html_encoding": encoding, "source": str(file)}, ensure_ascii=False) + "\n")
    content = "".join(lines).encode("utf-8")
    if not dest.is_file() or dest.read_bytes() != content:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(content)
    return len(lines)


def split_inputs(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """``(web-page files, other inputs)``: HTML files given directly or found (recursively) in folders."""
    pages: list[Path] = []
    others: list[Path] = []
    for path in paths:
        if path.is_dir():
            pages.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in HTML_SUFFIXES))
        elif path.suffix.lower() in HTML_SUFFIXES:
            pages.append(path)
        else:
            others.append(path)
    return pages, others
