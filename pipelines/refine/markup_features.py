"""Markup features of a page's lines, for the line classifier: what the DOM says about each visible line.

The visible text (:mod:`proda.pipelines.ingest.html`) keeps every block of a page on its own line
but loses why it is there. Boilerplate shows best in the markup: a menu is a list of links, a footer
sits in ``<footer>``, a share bar in an element whose class says so, and an article's sentences in
``<p>`` elements. When a record still has its HTML, each line of its text gets these columns:

* ``markup`` 1 (0 for every column when there is no HTML: the classifier then decides from the
  text alone, as it learned to with the markup dropped in training);
* ``link_share``: share of the line's characters inside ``<a>`` elements (link density);
* ``heading``, ``paragraph``, ``list_item``: the line is an ``<h1-6>``, a ``<p>``, a ``<li>``;
* ``in_main``: the line survives Resiliparse's own main-content heuristics;
* ``in_layout``: the line sits in a layout element of HTML5 (``<nav>``, ``<header>``, ``<footer>``,
  ``<aside>``, ``<form>``, ``<menu>``, ``<dialog>``) or one with a navigation/banner/contentinfo
  ARIA role;
* ``in_named``: the line sits in an element whose ``class`` or ``id`` uses one of a few generic
  words of page furniture (navigation, menus, sidebars, widgets, sharing, comments, cookie notices,
  related links). These are words of HTML authoring in general, not of any site.

None of these decides anything: they are inputs whose weights the classifier learns from the
expert's programs. Lines are matched to the markup by their text (whitespace collapsed, bullets
dropped), in order for the reduced-HTML rendering and as a multiset for the filtered renderings;
a line that cannot be matched gets zeros, the same as a page without HTML.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

MARKUP_FEATURES = ("markup", "link_share", "heading", "paragraph", "list_item", "in_main", "in_layout", "in_named")
"""Names of the columns :func:`markup_features` returns, in order."""

_LAYOUT_SELECTORS = ["nav", "header", "footer", "aside", "form", "menu", "dialog",
                     "[role=navigation]", "[role=banner]", "[role=contentinfo]", "[role=complementary]"]
# generic words of page furniture in class and id attributes (substring match, as authors compound them)
_FURNITURE_WORDS = ("nav", "menu", "footer", "sidebar", "widget", "share", "social", "comment", "cookie",
                    "related", "breadcrumb", "banner", "subscribe", "newsletter", "promo", "advert", "popup",
                    "modal", "masthead", "toolbar")
_NAMED_SELECTORS = [f"[{attr}*={word}]" for word in _FURNITURE_WORDS for attr in ("class", "id")]
_TAG = re.compile(r"<[^>]*>")
_ANCHOR = re.compile(r"<a\b[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL)
_HEADING = re.compile(r"<h[1-6]\b", re.IGNORECASE)
_PARAGRAPH = re.compile(r"<p\b", re.IGNORECASE)
_LIST_ITEM = re.compile(r"<li\b", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[•◦▪▸►\-*+–—·]|\d{1,3}[.)])\s+")
_LOOKAHEAD = 40
"""How far ahead in the reduced-HTML lines a visible line is looked for (it renders extra lines for
empty links and list markup, never fewer)."""


def _key(text: str) -> str:
    """A line's text for matching: entities decoded, bullets and surrounding/inner runs of blanks dropped."""
    from html import unescape

    return " ".join(_BULLET.sub("", unescape(text)).split())


def _reduced_rows(rendering: str) -> list[tuple[str, list[float]]]:
    """(key, [link_share, heading, paragraph, list_item]) for each non-empty line of the reduced HTML."""
    rows = []
    for line in rendering.split("\n"):
        text = _key(_TAG.sub("", line))
        if not text:
            continue
        linked = sum(len(_key(_TAG.sub("", m.group(1)))) for m in _ANCHOR.finditer(line))
        rows.append((text, [min(1.0, linked / len(text)), float(bool(_HEADING.search(line))),
                            float(bool(_PARAGRAPH.search(line))), float(bool(_LIST_ITEM.search(line)))]))
    return rows


def _survivors(rendering: str) -> Counter[str]:
    return Counter(k for k in (_key(line) for line in rendering.split("\n")) if k)


def markup_features(lines: Sequence[str], html: str | None) -> NDArray[np.float32]:
    """``(len(lines), len(MARKUP_FEATURES))``: the markup columns of each line of a page's visible text.

    ``lines`` is the text :func:`~proda.pipelines.ingest.html.html_to_text` made of ``html``; with
    ``html`` None or unparsable every column is 0 (no markup known). Never raises for bad HTML.
    """
    out = np.zeros((len(lines), len(MARKUP_FEATURES)), np.float32)
    if not html or not html.strip():
        return out
    try:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        tree = HTMLTree.parse(html)
        reduced = _reduced_rows(extract_plain_text(tree, preserve_formatting="minimal_html", links=True))
        main = _survivors(extract_plain_text(tree, preserve_formatting=True, main_content=True))
        no_layout = _survivors(extract_plain_text(tree, preserve_formatting=True, skip_elements=_LAYOUT_SELECTORS))
        no_named = _survivors(extract_plain_text(tree, preserve_formatting=True, skip_elements=_NAMED_SELECTORS))
    except Exception:  # noqa: BLE001 - a page Resiliparse cannot take is a page without markup features
        return out
    cursor = 0
    for i, line in enumerate(lines):
        key = _key(line)
        if not key:
            continue
        out[i, 0] = 1.0
        for j in range(cursor, min(cursor + _LOOKAHEAD, len(reduced))):
            if reduced[j][0] == key:
                out[i, 1:5] = reduced[j][1]
                cursor = j + 1
                break
        for column, survivors, present in ((5, main, 1.0), (6, no_layout, 0.0), (7, no_named, 0.0)):
            if survivors[key] > 0:
                survivors[key] -= 1
                out[i, column] = present
            else:
                out[i, column] = 1.0 - present
    return out
