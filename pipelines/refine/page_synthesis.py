"""Synthetic web pages for the line classifier: real page furniture around a new article.

An expert's programs label a few dozen pages; each page has one article, so the classifier sees an
article begin and end, amid menus, bylines and footers, only as many times as there are pages. Its
mistakes cluster there: the first and last lines of an article, right after a page's header or right
before its related links, where the convolution's window holds more furniture than prose.

:func:`transplant` puts a new article into a real page: the inner HTML of the page's densest prose
container (:func:`~proda.pipelines.refine.markup_features.prose_containers`, where its own article
was) becomes the article's lines, a ``<p>`` each (a Markdown heading an ``<h2>``). The page's other
lines keep their expert label; the article's lines are content by construction. No label comes from
anything but an expert's program and the transplant itself, and the HTML goes with the text, so the
markup features see a page as ``proda refine run`` would. :func:`synthetic_pages` makes many such
records from distilled pages and a pool of texts (``documents.jsonl`` records, ``expert``:
``synthetic-page``), which ``proda refine train-classifier`` takes beside the distilled pages.
"""

from __future__ import annotations

import difflib
import html as html_lib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proda.errors import InputError
from proda.pipelines.refine.interpreter import execute
from proda.pipelines.refine.program import ProgramError, parse_program

EXPERT = "synthetic-page"


@dataclass(frozen=True)
class Transplant:
    """A page with a new article: its HTML, its visible text's lines, and per line whether it is one
    of the article's (``own``) rather than the page's."""

    html: str
    lines: list[str]
    own: list[bool]


def line_key(line: str) -> str:
    """A line's text as pages are matched by it: blanks collapsed (the converter may re-space a line)."""
    return " ".join(line.split())


def transplant(page: str, article: Sequence[str], *, headings: bool = True) -> Transplant:
    """``article``'s non-blank lines in place of the article of ``page`` (HTML); see the module docstring.

    With ``headings``, a line that starts with ``#`` becomes an ``<h2>`` of its text without the
    hashes; otherwise every line is a ``<p>`` of its text as given. The page's whole body takes the
    article when it has no prose container. Raises InputError for a page without a body.
    """
    from resiliparse.parse.html import HTMLTree

    from proda.pipelines.ingest.html import html_to_text
    from proda.pipelines.refine.markup_features import prose_containers

    tree = HTMLTree.parse(page)
    if tree.body is None:
        raise InputError("the page has no body to put an article in")
    containers = prose_containers(tree.body)
    target = containers[0][1] if containers else tree.body
    parts: list[str] = []
    wanted: list[str] = []
    for line in (x.strip() for x in article):
        if not line:
            continue
        if headings and line.startswith("#") and line.lstrip("#").strip():
            line = line.lstrip("#").strip()
            parts.append(f"<h2>{html_lib.escape(line)}</h2>")
        else:
            parts.append(f"<p>{html_lib.escape(line)}</p>")
        wanted.append(line_key(line))
    target.html = "".join(parts)
    dressed = str(tree)
    lines = html_to_text(dressed).text.split("\n")
    keys = [line_key(line) for line in lines]
    own = [False] * len(lines)
    for block in difflib.SequenceMatcher(None, keys, wanted, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            own[block.a + k] = True
    return Transplant(dressed, lines, own)


@dataclass(frozen=True)
class LabelledPage:
    """A distilled page: its HTML and the text (blanks collapsed) of the lines its program keeps and removes."""

    id: str
    html: str
    kept: frozenset[str]
    removed: frozenset[str]


def labelled_pages(documents: Iterable[Path]) -> list[LabelledPage]:
    """The pages of ``documents.jsonl`` files (``proda refine distill``) that carry their HTML and a
    program in the language; others are skipped. Raises InputError for a missing file."""
    out: list[LabelledPage] = []
    for path in documents:
        if not path.is_file():
            raise InputError("no such file", source=str(path))
        for raw in path.open(encoding="utf-8"):
            try:
                r = json.loads(raw)
                text, page, program = r["text"], r.get("html"), parse_program(r["program"])
            except (json.JSONDecodeError, KeyError, TypeError, ProgramError):
                continue
            if not isinstance(page, str) or not page.strip() or not isinstance(text, str):
                continue
            gone = set(execute(program, text).removed_lines)
            lines = text.split("\n")
            kept = frozenset(line_key(x) for i, x in enumerate(lines) if i not in gone) - {""}
            removed = frozenset(line_key(x) for i, x in enumerate(lines) if i in gone) - {""}
            out.append(LabelledPage(str(r.get("id", "")), page, kept, removed))
    return out


def page_record(page: LabelledPage, article: Sequence[str], record_id: str) -> dict[str, Any] | None:
    """One ``documents.jsonl`` record: ``article`` transplanted into ``page``, with the deletion
    program that keeps the article and the page's lines its expert kept (a line it kept in one place
    and removed in another, or never saw, is removed: content is what the expert vouched for); None
    when the page takes no article."""
    from proda.pipelines.refine.classifier import decisions_to_program

    try:
        made = transplant(page.html, article)
    except InputError:
        return None
    if not any(made.own):
        return None
    keys = [line_key(line) for line in made.lines]
    keep = [own or not key or (key in page.kept and key not in page.removed)
            for key, own in zip(keys, made.own, strict=True)]
    return {"id": record_id, "text": "\n".join(made.lines), "program": decisions_to_program(keep).render(),
            "html": made.html, "expert": EXPERT, "page": page.id}


def synthetic_pages(pages: Sequence[LabelledPage], articles: Sequence[Sequence[str]], n: int,
                    *, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` records, each a random article of ``articles`` in a random page of ``pages`` (seeded)."""
    if not pages or not articles:
        return []
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for k in range(n * 2):  # a page that takes no article is drawn again, a bounded number of times
        if len(out) >= n:
            break
        record = page_record(rng.choice(pages), rng.choice(articles), f"{EXPERT}-{seed}-{k}")
        if record is not None:
            out.append(record)
    return out
