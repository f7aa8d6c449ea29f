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
  related links). These are words of HTML authoring in general, not of any site;
* ``in_best``, ``in_best_parent``, ``in_top3``: the line lies in the page's densest prose container
  (see :func:`prose_containers`), in that container's parent, or in one of the three best.

None of these decides anything: they are inputs whose weights the classifier learns from the
expert's programs. Lines are matched to the markup by their text (whitespace collapsed, bullets
dropped), in order for the reduced-HTML rendering and as a multiset for the filtered renderings;
a line that is not a line of the page's own visible text (the text was edited, or belongs to another
page) gets zeros, the same as a page without HTML, so a mismatch can never read as page furniture.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

MARKUP_FEATURES = ("markup", "link_share", "heading", "paragraph", "list_item", "in_main", "in_layout", "in_named",
                   "in_best", "in_best_parent", "in_top3")
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


_PROSE_BLOCKS = frozenset({"p", "pre", "td", "li", "blockquote"})
_INVISIBLE = frozenset({"script", "style", "noscript", "template", "svg"})
_MIN_PROSE = 25
"""Characters a block needs before it counts as prose (shorter ones are labels and links)."""


def prose_containers(body: Any) -> list[tuple[float, Any, Any]]:
    """``(score, element, parent element)`` of the page's prose containers, best first.

    The content-scoring idea of the readability family of extractors: every prose block (``p``,
    ``pre``, ``td``, ``li``, ``blockquote`` with at least :data:`_MIN_PROSE` characters) gives its
    parent ``1 + commas + min(characters // 100, 3)`` points and its grandparent half of that; a
    container's score is then scaled by the share of its text that is *not* link text. One pass
    over the DOM with Resiliparse's traversal (elements are numbered on entry; a node's totals go to
    its parent when the traversal climbs above it): about 10 ms for a large page.
    """
    from resiliparse.parse.html import NodeType, traverse_dom

    nodes: list[Any] = []
    parent: list[int] = []
    tags: list[str] = []
    text: list[int] = []
    linked: list[int] = []
    commas: list[int] = []
    score: list[float] = []
    in_link: list[bool] = []
    hidden: list[bool] = []
    stack: list[int] = []

    def leave(i: int) -> None:
        p = parent[i]
        if p >= 0:
            text[p] += text[i]
            linked[p] += linked[i]
            commas[p] += commas[i]
        if tags[i] in _PROSE_BLOCKS and text[i] >= _MIN_PROSE and p >= 0:
            points = 1 + commas[i] + min(text[i] // 100, 3)
            score[p] += points
            if parent[p] >= 0:
                score[parent[p]] += points / 2

    def enter(ctx: Any) -> None:
        node, depth = ctx.node, ctx.depth
        # the traversal reports no exit for childless elements: depth says which open elements ended
        while len(stack) > depth:
            leave(stack.pop())
        if node.type == NodeType.ELEMENT:
            tag, p = node.tag, stack[-1] if stack else -1
            stack.append(len(nodes))
            nodes.append(node)
            parent.append(p)
            tags.append(tag)
            text.append(0)
            linked.append(0)
            commas.append(0)
            score.append(0.0)
            in_link.append(tag == "a" or (p >= 0 and in_link[p]))
            hidden.append(tag in _INVISIBLE or (p >= 0 and hidden[p]))
        elif node.type == NodeType.TEXT and stack and not hidden[stack[-1]]:
            value = node.text
            size = len(value.strip())
            if size:
                i = stack[-1]
                text[i] += size
                commas[i] += value.count(",")
                if in_link[i]:
                    linked[i] += size

    traverse_dom(body, enter)
    while stack:
        leave(stack.pop())
    ranked = sorted(((score[i] * (1 - min(1.0, linked[i] / max(text[i], 1))), i)
                     for i in range(len(nodes)) if score[i] > 0), reverse=True)
    return [(s, nodes[i], nodes[parent[i]] if parent[i] >= 0 else nodes[i]) for s, i in ranked]


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
        visible = _survivors(extract_plain_text(tree, preserve_formatting=True))
        main = _survivors(extract_plain_text(tree, preserve_formatting=True, main_content=True))
        no_layout = _survivors(extract_plain_text(tree, preserve_formatting=True, skip_elements=_LAYOUT_SELECTORS))
        no_named = _survivors(extract_plain_text(tree, preserve_formatting=True, skip_elements=_NAMED_SELECTORS))
        containers = prose_containers(tree.body) if tree.body is not None else []

        def inside(element: Any) -> Counter[str]:
            return _survivors(extract_plain_text(element.html, preserve_formatting=True))

        best = inside(containers[0][1]) if containers else Counter()
        best_parent = inside(containers[0][2]) if containers else Counter()
        top3: Counter[str] = Counter()
        for _, element, _ in containers[:3]:
            top3 |= inside(element)
    except Exception:  # noqa: BLE001 - a page Resiliparse cannot take is a page without markup features
        return out
    cursor = 0
    for i, line in enumerate(lines):
        key = _key(line)
        if not key or visible[key] <= 0:
            continue  # blank, or not a line of this page's text (edited, or another page): no markup known
        visible[key] -= 1
        out[i, 0] = 1.0
        for j in range(cursor, min(cursor + _LOOKAHEAD, len(reduced))):
            if reduced[j][0] == key:
                out[i, 1:5] = reduced[j][1]
                cursor = j + 1
                break
        for column, survivors, present in ((5, main, 1.0), (6, no_layout, 0.0), (7, no_named, 0.0), (8, best, 1.0),
                                           (9, best_parent, 1.0), (10, top3, 1.0)):
            if survivors[key] > 0:
                survivors[key] -= 1
                out[i, column] = present
            else:
                out[i, column] = 1.0 - present
    return out
