"""benchmarks/refinex_downstream.py: dressing only adds lines, the refiner's line accounting, and an
identity refiner scoring exactly like the noisy text (a few gold chunks, the heuristic backend)."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "refinex_downstream.py"
BOILERPLATE = ["Home", "Log in", "Subscribe to our newsletter", "Privacy policy", "Share this page",
               "Related posts", "© 2024 Example Ltd.", "Cookie settings", "Next article", "Contact us",
               "Read more", "Sign up for free", "Terms of use", "Back to top", "Follow us"]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("refinex_downstream", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


TEXT = "## A heading\n\nFirst paragraph.\n\nSecond one,\n\n- a list item\n\n- another\n\nLast paragraph."


@pytest.mark.parametrize("seed", range(20))
def test_dressing_only_adds_lines(bench: ModuleType, seed: int) -> None:
    lines, added = bench.dress_lines(TEXT, BOILERPLATE, random.Random(seed))
    assert "\n".join(x for x, a in zip(lines, added, strict=True) if not a) == TEXT
    assert sum(added) >= 12 + 2  # a block above and below, each with its blank line
    # a block starts after a blank line (or opens the text, or is the footer starting with one) and
    # ends with a blank line of its own (or ends the text): it never sits inside a paragraph
    for i in range(len(lines)):
        if added[i] and i + 1 < len(lines) and not added[i + 1]:
            assert lines[i] == ""
        if added[i] and i > 0 and not added[i - 1]:
            assert lines[i - 1] == "" or lines[i] == ""

PAGE = ("<html><head><title>Example</title></head><body><nav><ul><li><a href='/'>Home</a></li>"
        "<li><a href='/news'>News</a></li></ul></nav><div class='content'><article>"
        "<p>The page's own article, long enough to be prose, with a comma, and another one, here.</p>"
        "<p>A second paragraph of it, again with commas, so that this container scores best.</p></article>"
        "</div><footer><p>Contact us</p><p>Terms of use</p></footer></body></html>")


def test_page_dressing_puts_the_chunk_in_place_of_the_article(bench: ModuleType) -> None:
    pytest.importorskip("resiliparse")
    lines, added, page = bench.dress_page(TEXT + "\nA <tag> & more.", PAGE)
    own = [" ".join(x.split()) for x, a in zip(lines, added, strict=True) if not a and x.strip()]
    assert own == [*(x for x in TEXT.split("\n") if x.strip()), "A <tag> & more."]  # escaped into the page
    theirs = {x.strip() for x, a in zip(lines, added, strict=True) if a and x.strip()}
    assert {"Home", "News", "Contact us", "Terms of use"} <= {t.lstrip("•* ").strip() for t in theirs}
    assert "own article" not in "\n".join(lines) and "own article" not in page  # the page's article is gone
    assert "<nav>" in page and "&lt;tag&gt;" in page


def test_protected_breaks_stay_together(bench: ModuleType) -> None:
    span = "Second one,\n\n- a list item"
    protect = bench.protected_breaks(TEXT, [span, "no newline here"])
    assert protect == {5, 6}  # the blank line and the list item after "Second one,"
    for seed in range(50):
        noisy = bench.dress(TEXT, BOILERPLATE, random.Random(seed), protect)
        assert span in noisy


def test_refiner_accounting(bench: ModuleType) -> None:
    dressed = [bench.dress_lines(TEXT, BOILERPLATE, random.Random(s)) for s in range(5)]
    noisy = ["\n".join(lines) for lines, _ in dressed]
    same = bench.refiner_errors(dressed, noisy)
    assert same["text_lines_lost"] == 0 and same["boilerplate_left_share"] == 1.0
    perfect = ["\n".join(x for x, a in zip(lines, added, strict=True) if not a) for lines, added in dressed]
    clean = bench.refiner_errors(dressed, perfect)
    assert clean["text_lines_lost"] == 0 and clean["boilerplate_left"] == 0
    lossy = [t.replace("First paragraph.", "") for t in perfect]
    assert bench.refiner_errors(dressed, lossy)["text_lines_lost"] == 5


def test_identity_refiner_scores_like_noisy(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    every = bench.gold_chunks()
    assert len(every) > 100 and all(g.triples for g in every[:8])
    dev, test = bench.gold_chunks(["dev"]), bench.gold_chunks(["test"])
    assert [g.key for g in dev + test] == [g.key for g in every] and dev and test
    with pytest.raises(ValueError, match="unknown gold split"):
        bench.gold_chunks(["train"])
    monkeypatch.setattr(bench, "gold_chunks", lambda splits=(): every[:8])
    seen: list[list[str]] = []

    def keep(texts: list[str], pages: list[str | None] | None = None) -> list[str]:
        assert pages is None  # dressed lines are text only
        seen.append(texts)
        return list(texts)

    result: dict[str, Any] = bench.downstream(BOILERPLATE, keep, backends=("heuristic",), seed=3)
    assert result["chunks"] == 8 and len(seen[0]) == 8
    rows = result["backends"]["heuristic"]
    for key in ("precision", "recall", "f1", "tp", "fp", "fn"):
        assert rows["refined"][key] == rows["noisy"][key]
    assert rows["clean"]["recovered"] in (1.0, None)
    assert rows["bootstrap"]["refined-noisy"] == {"value": 0.0, "lo": 0.0, "hi": 0.0}
    assert result["refiner"]["text_lines_lost"] == 0 and result["refiner"]["boilerplate_left_share"] == 1.0
    for g, noisy in zip(every[:8], seen[0], strict=True):
        assert all(t.evidence in noisy for t in g.triples)
