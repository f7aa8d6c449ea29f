"""Markup features of a page's lines (pipelines/refine/markup_features.py) and their way through
distillation, training and the refine stage: what the DOM says about each visible line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("resiliparse")

from proda.pipelines.ingest.html import html_to_text
from proda.pipelines.refine.markup_features import MARKUP_FEATURES, markup_features
from proda.pipelines.refine.model import ModelProgram
from proda.pipelines.refine.program import KEEP

COLUMN = {name: k for k, name in enumerate(MARKUP_FEATURES)}
ARTICLE = ("A budget is a plan that sets expected income against expected spending over a period of time, "
           "so that a household can see in advance whether it will save or borrow.")
PAGE = f"""<html><head><title>Budgets</title></head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/a">Archive</a></li></ul></nav></header>
<div class="share-bar"><span>Share this page</span></div>
<main><article><h1>Planning a budget</h1><p>{ARTICLE}</p>
<p>Read <a href="/more">the longer guide</a> for worked cases of plans that did and did not hold.</p></article></main>
<footer><p>Copyright notice of the publisher</p></footer></body></html>"""


def _rows(html: str | None) -> dict[str, np.ndarray]:
    lines = html_to_text(PAGE).text.split("\n")
    feats = markup_features(lines, html)
    return {" ".join(line.replace("•", "").split()): feats[i] for i, line in enumerate(lines) if line.strip()}


def test_each_visible_line_gets_what_its_markup_says() -> None:
    rows = _rows(PAGE)
    assert all(r[COLUMN["markup"]] == 1 for r in rows.values())
    home, article, heading = rows["Home"], rows[ARTICLE], rows["Planning a budget"]
    assert home[COLUMN["link_share"]] == 1 and home[COLUMN["list_item"]] == 1 and home[COLUMN["in_layout"]] == 1
    assert article[COLUMN["paragraph"]] == 1 and article[COLUMN["link_share"]] == 0
    assert article[COLUMN["in_layout"]] == 0 and article[COLUMN["in_named"]] == 0
    assert heading[COLUMN["heading"]] == 1
    partial = rows["Read the longer guide for worked cases of plans that did and did not hold."][COLUMN["link_share"]]
    assert 0.1 < partial < 0.5  # a link inside a sentence is a small share of the line
    assert rows["Share this page"][COLUMN["in_named"]] == 1  # a class naming page furniture
    assert rows["Copyright notice of the publisher"][COLUMN["in_layout"]] == 1  # inside <footer>
    # the densest prose container is the article: its lines are in it, the menu's are not
    assert article[COLUMN["in_best"]] == 1 and heading[COLUMN["in_best"]] == 1
    assert home[COLUMN["in_best"]] == 0 and home[COLUMN["in_top3"]] == 0


def test_prose_containers_rank_the_paragraph_rich_element_first_and_discount_link_text() -> None:
    from resiliparse.parse.html import HTMLTree

    from proda.pipelines.refine.markup_features import prose_containers

    sentence = "This sentence, long enough to count as prose, carries a comma or two, as prose does."
    html = ("<html><body><div id='links'>" + "".join(f"<p><a href='/{k}'>{sentence}</a></p>" for k in range(6))
            + "</div><div id='story'>" + "".join(f"<p>{sentence}</p>" for _ in range(3)) + "<br><img src='x'>"
            + "</div><div id='empty'></div></body></html>")
    ranked = prose_containers(HTMLTree.parse(html).body)
    assert ranked[0][1].id == "story"  # fewer paragraphs, but none of them is a link
    assert [s for s, *_ in ranked] == sorted((s for s, *_ in ranked), reverse=True)
    assert prose_containers(HTMLTree.parse("<html><body><p>short</p></body></html>").body) == []


def test_without_html_or_with_garbage_every_column_is_zero_and_nothing_raises() -> None:
    lines = html_to_text(PAGE).text.split("\n")
    for html in (None, "", "   "):
        assert not markup_features(lines, html).any()
    foreign = markup_features(["A line this page does not have.", "Home"], PAGE)
    assert not foreign[0].any() and foreign[1][COLUMN["markup"]] == 1  # only the page's own lines get markup
    odd = markup_features(["one line", "", "another"], "<<<>>> \x00 <p unclosed <a href='x'>")
    assert odd.shape == (3, len(MARKUP_FEATURES)) and not odd[1].any()  # a blank line has no markup row


class RecordingSource:
    """A program source that remembers what the refine stage gave it."""

    key = "recording"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    def programs(self, texts: Sequence[str], pages: Sequence[str | None] | None = None) -> list[ModelProgram]:
        assert pages is not None and len(pages) == len(texts)
        self.seen.extend(zip(texts, pages, strict=True))
        return [ModelProgram(KEEP, []) for _ in texts]


def test_the_refine_stage_hands_each_web_page_its_html_and_a_text_record_none(tmp_path: Path) -> None:
    from proda.pipelines.refine.config import RefineConfig
    from proda.pipelines.refine.stage import run_refine

    source = RecordingSource()
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"id": "page", "html": PAGE}) + "\n"
                      + json.dumps({"id": "text", "text": "Plain text.\nSecond line."}) + "\n", encoding="utf-8")
    report = run_refine([inputs], tmp_path / "out", RefineConfig(source="keep", shards=1), tmp_path / "home",
                        source=source)
    assert report.total()["documents"] == 2
    assert [page for _, page in source.seen] == [PAGE, None]


def test_distilled_documents_keep_the_page_and_training_reads_its_markup(tmp_path: Path) -> None:
    pytest.importorskip("trafilatura")
    from proda.pipelines.refine.config import DistillConfig
    from proda.pipelines.refine.distill_stage import run_distill
    from proda.training.refine_classifier import read_documents

    pages = tmp_path / "pages.jsonl"
    pages.write_text(json.dumps({"id": "p1", "html": PAGE}) + "\n", encoding="utf-8")
    report = run_distill([pages], tmp_path / "out", DistillConfig(expert="trafilatura", trafilatura_favour="balanced"),
                         tmp_path / "home")
    assert report.reliable == 1, report
    (row,) = [json.loads(x) for x in (tmp_path / "out" / "documents.jsonl").read_text().splitlines()]
    assert row["html"] == PAGE and row["expert"].startswith("trafilatura-") and "favor" not in row["expert"]
    docs, _, _ = read_documents([tmp_path / "out" / "documents.jsonl"])
    assert docs[0].html == PAGE


def test_cli_chooses_the_experts_operating_point_and_names_a_bad_one(tmp_path: Path) -> None:
    pytest.importorskip("trafilatura")
    from typer.testing import CliRunner

    from proda.cli.main import app

    page = tmp_path / "page.html"
    page.write_text(PAGE, encoding="utf-8")
    runner = CliRunner()
    base = ["--home", str(tmp_path / "home"), "refine", "distill", str(page), "--out", str(tmp_path / "d"),
            "--expert", "trafilatura", "--json"]
    done = runner.invoke(app, [*base, "--trafilatura-favour", "precision"])
    assert done.exit_code == 0, done.output
    (row,) = [json.loads(x) for x in (tmp_path / "d" / "distilled.jsonl").read_text().splitlines()]
    assert row["expert"].endswith(":favor_precision")
    bad = runner.invoke(app, [*base, "--trafilatura-favour", "sometimes"])
    assert bad.exit_code != 0 and "sometimes" in bad.output + str(bad.exception)
