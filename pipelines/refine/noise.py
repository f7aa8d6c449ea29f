"""Noise generators for the RefineX benchmark: web and extraction noise injected with known positions.

A clean excerpt of a textbook module becomes a "web page": navigation and menu lines, cookie and
share banners, running headers, page numbers, copyright lines, advertisement lines and in-line
advertisement snippets, words broken by hyphenation and duplicated lines are *inserted* into it.
Injection only inserts, so the clean text is a subsequence of the raw text and is exactly the
expert refinement (the oracle); each raw line carries its label, so line-level scores are exact.

Every template pool is split into two disjoint halves: ``"train"`` and ``"heldout"``. A refine
model is trained on documents noised with one half and measured on documents noised with the
other, so it is scored on noise it has never seen verbatim (what a rule-based filter also faces).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Half = Literal["train", "heldout"]
CLEAN = "clean"

# Each pool: (train half, held-out half). Placeholders: {site} {n} {m} {year} {title} {book} {chapter}.
_SITES = (["StudyHub", "LearnLoop", "OpenNotes", "Brightpath Academy", "CampusWire"],
          ["EduPortal", "ClassCompass", "Mindgrove", "ScholarNet", "Textbook Depot"])
_MENU_ITEMS = (["Home", "Courses", "Library", "About us", "Contact", "Log in", "Sign up", "Blog", "Pricing",
                "Help center", "Subjects", "My account"],
               ["Start", "Catalog", "Resources", "Our team", "Support", "Sign in", "Register", "News", "Plans",
                "FAQ", "Topics", "Dashboard"])
_MENU_SEPARATORS = ([" | ", " · ", "  "], [" > ", " / ", " • "])
_COOKIE = (["We use cookies to improve your experience. By continuing you agree to our cookie policy.",
            "This site uses cookies. Accept all | Reject | Manage preferences",
            "Cookies help us deliver our services. Learn more. Got it!",
            "By clicking Accept, you consent to the use of cookies for analytics and ads."],
           ["Our website stores small files on your device to personalise content. OK, I understand",
            "We value your privacy: we and our partners store and access information on your device. Agree",
            "Notice: {site} relies on tracking technologies. Allow all or customise settings.",
            "Consent required - continue to enjoy {site} with personalised features. Accept & close"])
_SHARE = (["Share this: Facebook Twitter LinkedIn Email", "Share on Facebook | Tweet | Pin it",
           "Like this article? Share it with your friends!", "Share | Print | Save to reading list"],
          ["Spread the word: WhatsApp Reddit Telegram Copy link", "Send to a friend • Bookmark • Download PDF",
           "Found this useful? Post it on your favourite network.", "Repost | Embed | Email this page"])
_HEADER = (["{book} | {site}", "Chapter {chapter}: {title}", "{site} - {title}"],
           ["{title} :: {book}", "Unit {chapter} > {title}", "{book} (online edition)"])
_PAGE_NUMBER = (["Page {n} of {m}", "- {n} -", "{n}"],
                ["p. {n}", "[{n}/{m}]", "Pg {n}"])
_COPYRIGHT = (["© {year} {site}. All rights reserved.", "Copyright {year} {site} Inc.",
               "All content © {site} {year}; reproduction prohibited."],
              ["(c) {year}-{year2} {site} Ltd. Terms apply.", "{site} ® {year}. Unauthorized copying is forbidden.",
               "Content licensed to {site}, {year}. Do not redistribute."])
_AD_LINE = (["Advertisement", "Sponsored: Get 50% off premium study plans today!",
             "ADVERTISEMENT - Continue reading below", "Try {site} Plus free for 30 days. Cancel anytime."],
            ["Promoted content", "Limited offer: unlock all flashcards for just $1.99!",
             "Ad · Scroll to continue", "Upgrade to {site} Pro and ace your exams. Start now."])
_AD_INLINE = (["[Sponsored: Try {site} Plus free]", "(Advertisement)", "[Ad: Study smarter with {site}]"],
              ["«Promoted: {site} Pro»", "<<Sponsored link>>", "*** Special offer at {site} ***"])
_HYPHEN = ("- ", "-  ")  # train: "photo- synthesis"; held-out: a double space after the hyphen

KINDS = ("nav", "header", "page_number", "cookie", "share", "copyright", "ad_line", "ad_inline", "hyphenation",
         "duplicate")
_SENTENCE_END = re.compile(r"(?<=[.!?]) (?=[A-Z])")
_LONG_WORD = re.compile(r"\b[a-z]{9,}\b")


@dataclass(frozen=True)
class NoisyDocument:
    """A benchmark document: ``raw`` (noised), ``clean`` (the oracle refinement) and per-line labels.

    ``labels[i]`` is ``"clean"`` or the noise kind that inserted raw line ``i``; a clean line may
    still carry in-line noise (``inline``: its index -> kinds). ``twins`` maps a duplicated line to
    the line it copies: deleting either one is right.
    """

    id: str
    raw: str
    clean: str
    labels: tuple[str, ...]
    inline: dict[int, tuple[str, ...]] = field(default_factory=dict)
    twins: dict[int, int] = field(default_factory=dict)

    @property
    def noise_kinds(self) -> tuple[str, ...]:
        """Kinds of noise present, sorted."""
        kinds = {k for k in self.labels if k != CLEAN} | {k for ks in self.inline.values() for k in ks}
        return tuple(sorted(kinds))


@dataclass
class _Line:
    text: str
    label: str = CLEAN
    clean: str = ""
    inline: list[str] = field(default_factory=list)
    twin_of: _Line | None = None


class NoiseGenerator:
    """Draws noisy documents from clean excerpts with the templates of one ``half``.

    ``rate`` scales how much noise a page gets; ``p_clean`` is the share of documents left
    untouched and ``p_junk`` the share that are pure boilerplate (the expert drops them).
    """

    def __init__(self, half: Half, *, seed: int = 0, rate: float = 1.0, p_clean: float = 0.1,
                 p_junk: float = 0.05) -> None:
        self.h = 0 if half == "train" else 1
        self.rng = random.Random(f"{half}:{seed}")
        self.rate = rate
        self.p_clean = p_clean
        self.p_junk = p_junk

    # -- template filling -----------------------------------------------------------------------

    def _fill(self, pool: tuple[list[str], list[str]], ctx: dict[str, str]) -> str:
        n = self.rng.randint(2, 400)
        return self.rng.choice(pool[self.h]).format(
            n=n, m=n + self.rng.randint(1, 60), year=self.rng.randint(2005, 2025), year2=self.rng.randint(2026, 2030),
            **ctx)

    def _menu(self) -> str:
        items = self.rng.sample(_MENU_ITEMS[self.h], self.rng.randint(3, 7))
        return self.rng.choice(_MENU_SEPARATORS[self.h]).join(items)

    def _noise_line(self, kind: str, ctx: dict[str, str]) -> str:
        pools = {"header": _HEADER, "page_number": _PAGE_NUMBER, "cookie": _COOKIE, "share": _SHARE,
                 "copyright": _COPYRIGHT, "ad_line": _AD_LINE}
        return self._menu() if kind == "nav" else self._fill(pools[kind], ctx)

    # -- documents ------------------------------------------------------------------------------

    def document(self, doc_id: str, clean: str, *, title: str = "", book: str = "") -> NoisyDocument:
        """Noise ``clean`` (one excerpt) into a :class:`NoisyDocument`; deterministic given the seed."""
        rng = self.rng
        ctx = {"site": rng.choice(_SITES[self.h]), "title": title or "Overview", "book": book or "Textbook",
               "chapter": str(rng.randint(1, 20))}
        draw = rng.random()
        if draw < self.p_junk:
            kinds = rng.sample(["nav", "cookie", "share", "copyright", "ad_line", "header"], 4)
            junk = [_Line(self._noise_line(k, ctx), k) for k in kinds]
            return self._finish(doc_id, junk)
        lines = [_Line(text, CLEAN, text) for text in clean.split("\n")]
        if draw < self.p_junk + self.p_clean:
            return self._finish(doc_id, lines)

        def chance(p: float) -> bool:
            return rng.random() < min(1.0, p * self.rate)

        blank = any(not ln.text for ln in lines)  # paragraphs separated by blank lines: keep the page's style
        # page furniture at the top and bottom
        top: list[_Line] = []
        if chance(0.6):
            top.append(_Line(self._menu(), "nav"))
        if chance(0.4):
            top.append(_Line(self._noise_line("header", ctx), "header"))
        if chance(0.3):
            top.append(_Line(self._noise_line("cookie", ctx), "cookie"))
        bottom: list[_Line] = []
        for kind, p in (("share", 0.4), ("copyright", 0.5), ("nav", 0.2), ("cookie", 0.15)):
            if chance(p):
                bottom.append(_Line(self._noise_line(kind, ctx), kind))
        # page breaks and ads between paragraphs
        body = list(lines)
        gaps = [i for i in range(1, len(body)) if body[i - 1].text and (not blank or not body[i].text)]
        for i in sorted(rng.sample(gaps, min(len(gaps), rng.randint(0, 2))) if chance(0.5) else [], reverse=True):
            body[i:i] = [_Line(self._noise_line("page_number", ctx), "page_number")] + (
                [_Line(self._noise_line("header", ctx), "header")] if chance(0.5) else [])
        for i in sorted(rng.sample(gaps, min(len(gaps), rng.randint(1, 2))) if chance(0.4) else [], reverse=True):
            body[i:i] = self._spaced([_Line(self._noise_line("ad_line", ctx), "ad_line")], blank)
        prose = [ln for ln in body if ln.label == CLEAN and len(ln.text) > 80]
        if prose and chance(0.35):
            self._inline_ad(rng.choice(prose), ctx)
        if prose and chance(0.35):
            for ln in rng.sample(prose, min(len(prose), rng.randint(1, 2))):
                self._hyphenate(ln)
        if prose and chance(0.25):
            original = rng.choice(prose)
            k = body.index(original)
            body[k + 1:k + 1] = self._spaced([_Line(original.text, "duplicate", twin_of=original)], blank)
        return self._finish(doc_id, self._spaced(top, blank) + body + self._spaced(bottom, blank, before=True))

    def _spaced(self, block: list[_Line], blank: bool, *, before: bool = False) -> list[_Line]:
        """Noise lines separated by blank lines when the page uses them (each blank belongs to the noise)."""
        if not blank or not block:
            return block
        out: list[_Line] = []
        for ln in block:
            pad = _Line("", ln.label)
            out.extend([pad, ln] if before else [ln, pad])
        return out

    def _inline_ad(self, line: _Line, ctx: dict[str, str]) -> None:
        cuts = [m.start() for m in _SENTENCE_END.finditer(line.text)]
        if not cuts:
            return
        cut = self.rng.choice(cuts)
        snippet = " " + self._fill(_AD_INLINE, ctx)
        line.text = line.text[:cut] + snippet + line.text[cut:]
        line.inline.append("ad_inline")

    def _hyphenate(self, line: _Line) -> None:
        words = list(_LONG_WORD.finditer(line.text))
        if not words:
            return
        w = self.rng.choice(words)
        cut = w.start() + self.rng.randint(3, len(w.group()) - 3)
        line.text = line.text[:cut] + _HYPHEN[self.h] + line.text[cut:]
        line.inline.append("hyphenation")

    def _finish(self, doc_id: str, lines: list[_Line]) -> NoisyDocument:
        index = {id(ln): i for i, ln in enumerate(lines)}
        twins = {i: index[id(ln.twin_of)] for i, ln in enumerate(lines) if ln.twin_of is not None}
        inline = {i: tuple(ln.inline) for i, ln in enumerate(lines) if ln.inline}
        return NoisyDocument(id=doc_id, raw="\n".join(ln.text for ln in lines),
                             clean="\n".join(ln.clean for ln in lines if ln.label == CLEAN),
                             labels=tuple(ln.label for ln in lines), inline=inline, twins=twins)


def excerpts(text: str, *, max_chars: int, rng: random.Random, count: int = 1) -> list[str]:
    """Up to ``count`` excerpts of consecutive whole lines of ``text``, each at most ``max_chars`` long
    (a single longer line is cut at ``max_chars``), starting on non-blank lines and ending on one."""
    lines = text.split("\n")
    starts = [i for i, ln in enumerate(lines) if ln.strip()]
    out: list[str] = []
    for start in sorted(rng.sample(starts, min(count, len(starts)))):
        taken: list[str] = []
        size = 0
        for ln in lines[start:]:
            if taken and size + len(ln) + 1 > max_chars:
                break
            taken.append(ln[:max_chars])
            size += len(ln) + 1
        while taken and not taken[-1].strip():
            taken.pop()
        out.append("\n".join(taken))
    return out


def template_halves() -> dict[str, tuple[Sequence[str], Sequence[str]]]:
    """Every template pool by kind, as (train, held-out); the halves are disjoint (tests check it)."""
    return {"site": _SITES, "menu_item": _MENU_ITEMS, "menu_separator": _MENU_SEPARATORS, "cookie": _COOKIE,
            "share": _SHARE, "header": _HEADER, "page_number": _PAGE_NUMBER, "copyright": _COPYRIGHT,
            "ad_line": _AD_LINE, "ad_inline": _AD_INLINE, "hyphenation": ([_HYPHEN[0]], [_HYPHEN[1]])}
