"""Synthetic pages for the line classifier: a new article in a real page's place, labels only from the
expert's program and the transplant itself, and records the trainer reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("resiliparse")

from proda.pipelines.ingest.html import html_to_text
from proda.pipelines.refine.classifier import decisions_to_program
from proda.pipelines.refine.interpreter import execute, is_subsequence
from proda.pipelines.refine.page_synthesis import (
    EXPERT,
    labelled_pages,
    page_record,
    synthetic_pages,
    transplant,
)
from proda.pipelines.refine.program import parse_program
from proda.training.refine_classifier import read_documents

PAGE = ("<html><head><title>Example</title></head><body><nav><ul><li><a href='/'>Home</a></li>"
        "<li><a href='/news'>News</a></li></ul></nav><div class='content'><article><h1>Old headline</h1>"
        "<p>The page's own article, long enough to be prose, with a comma, and another one, here.</p>"
        "<p>A second paragraph of it, again with commas, so that this container scores best.</p></article>"
        "<aside><p>Editor's note: this sidebar is content the expert kept.</p></aside>"
        "</div><footer><p>Contact us</p><p>Terms of use</p></footer></body></html>")
ARTICLE = ["## Supply and demand", "", "A market has buyers & sellers, and <prices>.", "Prices move."]
FURNITURE = {"Home", "News", "Contact us", "Terms of use"}


def _distilled(tmp_path: Path, page: str = PAGE) -> Path:
    """A documents.jsonl with one page whose program removes its menu and footer (as an expert's would)."""
    text = html_to_text(page).text
    keep = [" ".join(line.split()).lstrip("•* ").strip() not in FURNITURE for line in text.split("\n")]
    path = tmp_path / "documents.jsonl"
    records = [{"id": "p1", "text": text, "program": decisions_to_program(keep).render(), "html": page,
                "expert": "trafilatura"},
               {"id": "no-html", "text": "just text", "program": "keep_doc()"},
               {"id": "bad", "text": "x", "program": "delete_everything()", "html": page}]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_transplant_replaces_the_article_and_marks_its_lines() -> None:
    made = transplant(PAGE, ARTICLE)
    own = [line.strip() for line, mine in zip(made.lines, made.own, strict=True) if mine]
    assert own == ["Supply and demand", "A market has buyers & sellers, and <prices>.", "Prices move."]
    assert "<h2>Supply and demand</h2>" in made.html and "&lt;prices&gt;" in made.html  # a heading, escaped text
    assert "own article" not in made.html and "Old headline" not in made.html
    theirs = {line.lstrip(" •*").strip() for line, mine in zip(made.lines, made.own, strict=True) if not mine}
    assert theirs >= FURNITURE and "Editor's note: this sidebar is content the expert kept." in theirs
    plain = transplant(PAGE, ARTICLE, headings=False)
    assert "## Supply and demand" in [line.strip() for line in plain.lines]


def test_a_page_without_prose_takes_the_article_in_its_body() -> None:
    made = transplant("<html><body><nav>Menu</nav></body></html>", ["One line of text."])
    assert [line for line, mine in zip(made.lines, made.own, strict=True) if mine] == ["One line of text."]


def test_records_label_furniture_removed_and_everything_else_kept(tmp_path: Path) -> None:
    pages = labelled_pages([_distilled(tmp_path)])
    assert [p.id for p in pages] == ["p1"]  # no HTML or a program outside the language: skipped
    record = page_record(pages[0], ARTICLE, "r1")
    assert record is not None and record["expert"] == EXPERT and record["page"] == "p1"
    run = execute(parse_program(record["program"]), record["text"])
    kept = {line.lstrip(" •*").strip() for line in run.text.split("\n") if line.strip()}
    assert kept == {"Supply and demand", "A market has buyers & sellers, and <prices>.", "Prices move.",
                    "Editor's note: this sidebar is content the expert kept."}
    assert is_subsequence(run.text, record["text"])  # a deletion program: nothing is inserted


def test_synthetic_pages_are_seeded_and_read_by_the_trainer(tmp_path: Path) -> None:
    pages = labelled_pages([_distilled(tmp_path)])
    articles = [ARTICLE, ["Another article with one sentence, and a comma."]]
    first = synthetic_pages(pages, articles, 4, seed=1)
    assert first == synthetic_pages(pages, articles, 4, seed=1) and len(first) == 4
    assert synthetic_pages([], articles, 4) == [] and synthetic_pages(pages, [], 4) == []
    path = tmp_path / "synthetic.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in first))
    docs, experts, skipped = read_documents([path])
    assert experts == {EXPERT: 4} and not skipped
    for doc in docs:
        assert doc.html is not None and "<article>" in doc.html
        labels = dict(zip((line.lstrip(" •*").strip() for line in doc.lines), doc.labels, strict=False))
        assert labels["Home"] == 0 and labels["Terms of use"] == 0
        assert any(labels.get(line) == 1 for line in ("Prices move.", articles[1][0]))
