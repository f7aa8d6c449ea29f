"""Web pages in `proda ingest`: visible text with its block structure, boilerplate kept, bad pages rejected
by reason. The pages are synthetic, written here; the article text is CC BY OpenStax prose from
tests/fixtures (see its ATTRIBUTION.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proda.pipelines.ingest.html import MAX_HTML_BYTES, decode_html, html_to_text, pack_pages, split_inputs
from proda.pipelines.ingest.readers import RawDocument, Rejected, read_any, read_html, read_jsonl

pytest.importorskip("resiliparse")

ARTICLE = ("A while loop is a code construct that runs a set of statements, known as the loop body, while a given "
           "condition, known as the loop expression, is true.")


def page(body: str, *, title: str = "Loops", head: str = "") -> str:
    return (f"<!doctype html><html><head>{head}<title>{title}</title></head><body>"
            "<nav><ul><li><a href='/'>Home</a></li><li><a href='/c'>Courses</a></li></ul></nav>"
            f"<main><h1>While loops</h1><p>{body}</p><p>Café au lait is not a loop.</p></main>"
            "<footer><p>© 2024 Example Learning. All rights reserved.</p></footer></body></html>")


def test_a_page_becomes_its_visible_text_one_block_per_line_with_its_boilerplate(tmp_path: Path) -> None:
    file = tmp_path / "physics" / "loops.html"
    file.parent.mkdir()
    file.write_text(page(ARTICLE, head="<script>var tracking = 1;</script><style>p {color: red}</style>"))
    doc = read_html(file)
    assert isinstance(doc, RawDocument)
    lines = [line.strip() for line in doc.text.split("\n") if line.strip()]
    assert lines[0] == "• Home" and lines[1] == "• Courses"  # the menu is kept: refine removes it, not ingest
    assert "While loops" in lines and ARTICLE in lines
    assert lines[-1] == "© 2024 Example Learning. All rights reserved."
    assert "tracking" not in doc.text and "color" not in doc.text  # scripts and styles are not visible text
    assert doc.title == "Loops" and doc.discipline == "physics" and doc.source_id == "physics/loops.html"


def test_a_page_in_another_charset_is_decoded_not_rejected(tmp_path: Path) -> None:
    declared = tmp_path / "latin.htm"
    declared.write_bytes(page(ARTICLE, head="<meta charset='windows-1252'>").encode("cp1252"))
    undeclared = tmp_path / "undeclared.html"
    undeclared.write_bytes(page(ARTICLE * 3).encode("latin-1"))
    for file in (declared, undeclared):
        doc = next(iter(read_any([file], discipline="physics")))
        assert isinstance(doc, RawDocument), doc
        assert "Café au lait is not a loop." in doc.text
    assert decode_html(page("x", head="<meta charset='windows-1252'>").encode("cp1252"))[1] == "windows-1252"


def test_empty_scripts_only_and_oversized_pages_are_rejected_by_reason(tmp_path: Path) -> None:
    (tmp_path / "empty.html").write_bytes(b"")
    (tmp_path / "scripts.html").write_text("<html><head><script>let a = 1;</script></head><body>"
                                           "<script>document.write('hi')</script><style>b{}</style></body></html>")
    big = page(ARTICLE).replace("<main>", "<main><p>" + "x " * (MAX_HTML_BYTES // 2 + 10) + "</p>")
    (tmp_path / "big.html").write_text(big)
    items = {Path(i.item).name: i for i in read_any([tmp_path], discipline="physics") if isinstance(i, Rejected)}
    assert items["empty.html"].code == "empty"
    assert items["scripts.html"].code == "empty" and "scripts" in items["scripts.html"].reason
    assert items["big.html"].code == "too_large"


def test_jsonl_records_may_bring_html_instead_of_text(tmp_path: Path) -> None:
    data = tmp_path / "pages.jsonl"
    data.write_text(json.dumps({"id": "p1", "discipline": "physics", "html": page(ARTICLE)}) + "\n"
                    + json.dumps({"id": "p2", "discipline": "physics", "html": "<script>1</script>"}) + "\n")
    first, second = list(read_jsonl(data))
    assert isinstance(first, RawDocument) and ARTICLE in first.text and first.title == "Loops"
    assert isinstance(second, Rejected) and second.code == "empty"


def test_html_files_are_packed_as_html_records_with_their_encoding(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "a.html").write_text(page(ARTICLE))
    (tmp_path / "site" / "b.htm").write_bytes(page(ARTICLE, head="<meta charset='iso-8859-1'>").encode("latin-1"))
    (tmp_path / "site" / "notes.txt").write_text("not a page")
    pages, others = split_inputs([tmp_path / "site", tmp_path / "x.jsonl"])
    assert [p.name for p in pages] == ["a.html", "b.htm"] and others == [tmp_path / "x.jsonl"]
    packed = tmp_path / "pages.jsonl"
    assert pack_pages(pages, packed) == 2
    records = [json.loads(line) for line in packed.read_text().splitlines()]
    assert [r["html_encoding"] for r in records] == ["utf-8", "iso-8859-1"]
    assert all("Café au lait" in html_to_text(r["html"]).text for r in records)
    before = packed.stat().st_mtime_ns
    pack_pages(pages, packed)
    assert packed.stat().st_mtime_ns == before  # unchanged input, untouched file: a rerun resumes
