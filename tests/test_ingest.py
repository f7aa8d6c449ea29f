"""Ingest: readers, normalisation, chunking and the stage, on real OpenStax passages and a real FalkorDB."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF
from hypothesis import given, settings
from hypothesis import strategies as st

from proda.pipelines.ingest import (
    IngestStage,
    RawDocument,
    Rejected,
    check_text,
    chunk_text,
    estimate_tokens,
    ingest_paths,
    normalise_text,
    read_any,
    read_jsonl,
    read_pdf,
    read_text_folder,
)
from proda.schema import Chain, Chunk, Concept, Document, Provenance, Relation
from proda.schema.ids import content_hash
from proda.schema.store.base import ComponentStats, GraphStore, Row, StoreSpec
from proda.schema.store.writer import GraphWriter
from tests.graphs import covers

SAMPLE = Path(__file__).parent / "fixtures" / "corpus_sample.jsonl"
HAND = Provenance(extractor="manual", prompt_version="test")
HEADING = re.compile(r"^#{1,2} (.+)$", re.MULTILINE)


def sample_documents() -> list[RawDocument]:
    docs = [d for d in read_jsonl(SAMPLE) if isinstance(d, RawDocument)]
    assert len(docs) == 4
    return docs


def sample_texts() -> list[str]:
    return [normalise_text(d.text) for d in sample_documents()]


class RecordingStore(GraphStore):
    """Passes every call to a real store and records the write queries."""

    def __init__(self, inner: GraphStore) -> None:
        super().__init__(inner.catalog)
        self.inner, self.backend, self.url = inner, inner.backend, inner.url
        self.writes: list[str] = []

    def run(self, cypher: str, params: Mapping[str, Any] | None = None, *, read_only: bool = True,
            timeout_ms: int | None = None) -> list[Row]:
        if not read_only:
            self.writes.append(cypher)
        return self.inner.run(cypher, params, read_only=read_only, timeout_ms=timeout_ms)

    def spec(self) -> StoreSpec:
        return self.inner.spec()

    def ensure_schema(self) -> None:
        self.inner.ensure_schema()

    def components(self, discipline: str | None = None) -> list[ComponentStats]:
        return self.inner.components(discipline)

    def ping(self) -> None:
        self.inner.ping()

    def clear(self) -> None:
        self.inner.clear()

    def close(self) -> None:
        """The inner store belongs to its fixture."""


def snapshot(store: GraphStore) -> list[tuple[Any, ...]]:
    nodes = store.run("MATCH (n) RETURN labels(n)[0] AS label, n.id AS id, n.content_hash AS h, n.stale AS stale "
                      "ORDER BY id")
    edges = store.run("MATCH (a)-[r]->(b) RETURN type(r) AS t, a.id AS a, b.id AS b ORDER BY t, a, b")
    return [tuple(r.values()) for r in nodes + edges]


def document_chunk_ids(store: GraphStore, doc_id: str) -> list[str]:
    return [r["chunk_id"] for r in store.query("document_chunks", {"ids": [doc_id]})]


# --- normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("cafe\u0301", "café"),  # NFC composes a combining accent
    ("10² H₂O ½ …", "10² H₂O ½ …"),  # but is not NFKC: superscripts, subscripts, fractions keep meaning
    ("one\r\ntwo\rthree\u2028four", "one\ntwo\nthree\nfour"),
    ("bell\x07 nul\x00 esc\x1b.", "bell nul esc."),
    ("soft\u00adhy\u200bphen\ufeff", "softhyphen"),
    ("a  \t b\u00a0\u2009c   ", "a b c"),
    ("multi-\nple", "multiple"),
    ("Anglo-\nSaxon", "Anglo-Saxon"),
    ("pages 12-\n14", "pages 12-\n14"),  # digits: not a hyphenated word
    ("a dash -\nthen", "a dash -\nthen"),  # a space before the hyphen: not a hyphenated word
    ("first\n\n\n\n\nsecond", "first\n\nsecond"),
    ("text\n## Heading\nmore", "text\n\n## Heading\n\nmore"),
    ("#hashtag is not a heading", "#hashtag is not a heading"),
    ("   \n\t\u200b\n", ""),
])
def test_normalise_cases(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab.-# \n\r\t\u00a0\u00ad\u200b\u2029\x0c\x00e\u0301AZ"))))
def test_normalise_is_idempotent(raw: str) -> None:
    once = normalise_text(raw)
    assert normalise_text(once) == once


def test_clean_corpus_text_is_unchanged_by_normalisation() -> None:
    docs = sample_documents()
    assert [normalise_text(d.text) for d in docs] == [d.text for d in docs]


# --- chunking ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("max_tokens", "min_tokens"), [(400, 40), (120, 20), (50, 10)])
def test_chunks_keep_budget_sections_and_every_word(max_tokens: int, min_tokens: int) -> None:
    for text in sample_texts():
        chunks = chunk_text(text, max_tokens, min_tokens)
        assert [c.ordinal for c in chunks] == list(range(len(chunks)))
        # nothing lost, nothing duplicated, no word split: the same words in the same order
        assert " ".join(c.text for c in chunks).split() == text.split()
        for c in chunks:
            assert c.n_tokens == estimate_tokens(c.text) <= max_tokens
            headings = HEADING.findall(c.text)
            # a chunk names the sections it holds (after the one it continues, for a merged tiny last section)
            assert c.section.endswith(" / ".join(headings))
            for m in HEADING.finditer(c.text):
                # a section starts a chunk, unless what comes before it in the chunk is a carried-over
                # tiny section, or it is itself a tiny last section merged back into the chunk before
                before, after = c.text[: m.start()], c.text[m.start():]
                assert not before or min(estimate_tokens(before), estimate_tokens(after)) < min_tokens, c.text


def test_every_section_of_a_real_document_starts_a_chunk() -> None:
    text = next(t for t in sample_texts() if "## The Tradeoff Diagram" in t)
    chunks = chunk_text(text, 400, 40)
    starts = {c.text.split("\n", 1)[0] for c in chunks}
    for heading in ("## First Objection: People, Firms, and Society Do Not Act Like This", "## The Tradeoff Diagram",
                    "## Key Concepts and Summary"):
        assert heading in starts
    assert len(chunks) > 10 and min(c.n_tokens for c in chunks) >= 40


def test_chunking_is_deterministic() -> None:
    for text in sample_texts():
        assert chunk_text(text, 200, 30) == chunk_text(text, 200, 30)


def test_overlong_paragraph_splits_at_sentences_then_words() -> None:
    paragraph = " ".join(f"Sentence number {i} says that demand falls when the price rises." for i in range(40))
    chunks = chunk_text(paragraph, 60, 10)
    assert len(chunks) > 5
    assert all(c.text.endswith("rises.") and c.n_tokens <= 60 for c in chunks)
    run_on = " ".join(["word"] * 300)  # one sentence longer than the budget: split between words
    assert all(c.text.split() == ["word"] * len(c.text.split()) and c.n_tokens <= 60
               for c in chunk_text(run_on, 60, 10))
    giant = "x" * 1000  # a single word longer than the budget stays whole, in a chunk of its own
    assert [c.text for c in chunk_text(f"before\n\n{giant}\n\nafter", 60, 0)] == ["before", giant, "after"]


def test_small_last_chunk_of_a_section_is_rebalanced() -> None:
    body = " ".join(f"Clause {i} holds." for i in range(30))  # 90 words: one chunk of 100 tokens is not enough
    text = f"## Section\n\n{body}\n\nShort end."
    greedy = chunk_text(text, 100, 0)
    assert [c.n_tokens for c in greedy] == [98, 33]  # what packing alone gives
    chunks = chunk_text(text, 100, 40)
    assert " ".join(c.text for c in chunks).split() == text.split()
    assert len(chunks) == 2 and all(40 <= c.n_tokens <= 100 for c in chunks)
    assert chunks[1].text.startswith("Clause ") and chunks[1].section == "Section"


def test_tiny_sections_are_carried_forward_or_joined_back() -> None:
    para = " ".join(f"Markets clear when supply meets demand in case {i}." for i in range(8))
    carried = chunk_text(f"## Overview\n\n## Supply\n\n{para}", 400, 40)
    assert [(c.section, c.text.split("\n\n")[:2]) for c in carried] == [("Overview / Supply", ["## Overview",
                                                                                                "## Supply"])]
    joined = chunk_text(f"## Supply\n\n{para}\n\n## Note\n\nSee above.", 400, 40)
    assert [c.section for c in joined] == ["Supply / Note"] and joined[0].text.endswith("## Note\n\nSee above.")
    full = " ".join(["word"] * 58)  # with its heading, 78 of the 80 tokens
    alone = chunk_text(f"## Supply\n\n{full}\n\n## Note\n\nSee above.", 80, 40)
    assert [c.section for c in alone] == ["Supply", "Note"]  # joining back would break the budget


def test_bad_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="min_tokens < max_tokens"):
        chunk_text("text", 40, 40)
    with pytest.raises(ValueError, match="min_tokens < max_tokens"):
        chunk_text("text", 0, 0)
    assert chunk_text("  \n\n ") == []


# --- readers -------------------------------------------------------------------------------------


def test_jsonl_reader_reads_the_corpus_shape() -> None:
    docs = sample_documents()
    first = docs[0]
    assert first.source_id == "computer_science/m00110" and first.discipline == "computer_science"
    assert first.title == "NumPy" and first.book == "Introduction to Python Programming"
    assert first.license == "Attribution 4.0 International" and first.source.startswith("OpenStax")
    assert [d.origin for d in docs] == [f"{SAMPLE}:{n}" for n in range(1, 5)]


def test_jsonl_reader_skips_a_byte_order_mark_opening_the_file(tmp_path: Path) -> None:
    record = json.dumps({"id": "economics/a", "discipline": "economics", "text": "Prices rise.\n"})
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + record.encode() + b"\n" + record.replace("/a", "/b").encode() + b"\xff\n")
    items = list(read_jsonl(path))
    assert isinstance(items[0], RawDocument) and items[0].source_id == "economics/a"
    # offsets stay those of the file, the mark's three bytes included
    bad_byte = path.stat().st_size - 2
    assert isinstance(items[1], Rejected) and items[1].reason == f"line 2: not valid UTF-8 at byte {bad_byte}"


def write_pdf(path: Path, text: str | None, title: str = "") -> Path:
    pdf = FPDF()
    pdf.add_page()
    if title:
        pdf.set_title(title)
    if text is None:
        pdf.rect(20, 20, 120, 60)  # a drawing and no text: what a scan without OCR looks like
    else:
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def test_text_pdf_is_read_and_scanned_pdf_is_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "economics"
    folder.mkdir()
    sentence = "The opportunity cost of a choice is the value of the best alternative given up."
    doc = read_pdf(write_pdf(folder / "cost.pdf", sentence, title="Opportunity cost"))
    assert isinstance(doc, RawDocument)
    assert " ".join(doc.text.split()) == sentence
    assert (doc.source_id, doc.discipline, doc.title) == ("economics/cost.pdf", "economics", "Opportunity cost")
    scanned = read_pdf(write_pdf(folder / "scan.pdf", None))
    assert isinstance(scanned, Rejected)
    assert (scanned.code, scanned.reason) == ("no_text_layer", "no text layer (scanned PDF?)")


def test_text_folder_ids_titles_and_disciplines(tmp_path: Path) -> None:
    econ = tmp_path / "corpus" / "economics"
    (econ / "ch1").mkdir(parents=True)
    (econ / "intro.md").write_text("Preface line.\n\n# Scarcity and Choice\n\nEvery choice has a cost.\n")
    (econ / "notes.txt").write_text("Plain notes about markets.\n")
    (econ / ".hidden.md").write_text("not read")
    (econ / "ch1" / "a.markdown").write_text("Nested file.\n")
    from_root = {d.source_id: d for d in read_text_folder(tmp_path / "corpus") if isinstance(d, RawDocument)}
    from_folder = [d for d in read_text_folder(econ, "economics") if isinstance(d, RawDocument)]
    # the same ids whether the discipline folder or its parent is read; hidden files are skipped
    assert sorted(from_root) == sorted(d.source_id for d in from_folder) == [
        "economics/ch1/a.markdown", "economics/intro.md", "economics/notes.txt"]
    assert from_root["economics/intro.md"].title == "Scarcity and Choice"
    assert from_root["economics/notes.txt"].title == "notes"
    assert from_root["economics/ch1/a.markdown"].discipline == "economics"
    assert all(isinstance(d, RawDocument) for d in read_text_folder(tmp_path / "corpus"))
    bad = tmp_path / "Political Economy"
    bad.mkdir()
    (bad / "x.md").write_text("Some text.\n")
    [rejected] = list(read_text_folder(bad))
    assert isinstance(rejected, Rejected) and rejected.code == "bad_discipline"
    assert "'Political Economy' is not a snake_case name" in rejected.reason and "--discipline" in rejected.reason
    [fixed] = list(read_text_folder(bad, "political_economy"))
    assert isinstance(fixed, RawDocument) and fixed.source_id == "political_economy/x.md"


def test_check_text_filter() -> None:
    assert check_text("Plain prose.") == (True, "")
    keep, reason = check_text("bin\x01\x02\x03ary")
    assert not keep and reason == "binary content (33% control characters)"


# --- the stage on a real graph -------------------------------------------------------------------


def bad_inputs(tmp_path: Path) -> Path:
    """A folder with one good file and every kind of bad one, and a JSONL file with bad lines."""
    folder = tmp_path / "economics"
    folder.mkdir()
    (folder / "good.md").write_text("# Demand\n\nDemand falls as the price rises, all else equal.\n")
    (folder / "empty.md").write_text("  \n\n")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "latin1.txt").write_bytes("Le marché du café.".encode("latin-1"))
    (folder / "huge.txt").write_text("price " * 1_750_000)  # 10.5 MB on one line
    (folder / "table.csv").write_text("a,b\n1,2\n")
    write_pdf(folder / "scan.pdf", None)
    write_pdf(folder / "supply.pdf", "Supply rises as the price rises, all else equal.")
    good = json.dumps({"id": "economics/ok", "discipline": "economics", "title": "Fine", "text": "A fine text."})
    lines = [
        good.encode(),
        b'{"id": "economics/broken", "text": ',
        json.dumps({"id": "economics/notext", "discipline": "economics"}).encode(),
        json.dumps({"id": "economics/x", "discipline": "Economics 101", "text": "t"}).encode(),
        json.dumps({"id": "economics/num", "discipline": "economics", "text": 42}).encode(),
        b'{"id": "economics/latin", "discipline": "economics", "text": "caf\xe9"}',
        b"",
        good.encode(),  # the same document twice
    ]
    (folder / "records.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return folder


def test_bad_inputs_are_rejected_with_reasons_and_the_run_goes_on(falkordb_store: GraphStore,
                                                                  tmp_path: Path) -> None:
    folder = bad_inputs(tmp_path)
    report = ingest_paths(falkordb_store, [folder, tmp_path / "missing.jsonl"])
    reasons = {Path(r.item).name if r.item.startswith(str(tmp_path)) else r.item: r.reason for r in report.rejected}
    assert reasons["empty.md"] == "empty document"
    assert reasons["binary.txt"] == "binary content (NUL byte at byte 8)"
    assert reasons["latin1.txt"] == "not valid UTF-8 at byte 8"
    assert reasons["huge.txt"] == "a single line of 10.5 MB with no line or paragraph breaks (limit 1.0 MB)"
    assert reasons["scan.pdf"] == "no text layer (scanned PDF?)"
    assert reasons["table.csv"].startswith("unsupported file type '.csv'")
    assert reasons["missing.jsonl"] == "no such file or folder"
    jsonl = folder / "records.jsonl"
    assert reasons["records.jsonl:2"].startswith("line 2: malformed JSON: ")
    assert reasons["economics/notext"] == "line 3: missing required field(s): text"
    assert reasons["economics/x"].startswith("line 4: discipline 'Economics 101' is not a snake_case name")
    assert reasons["economics/num"] == "line 5: field 'text' must be a string, got int"
    bad_byte = jsonl.read_bytes().index(b"\xe9")
    assert reasons["records.jsonl:6"] == f"line 6: not valid UTF-8 at byte {bad_byte}"  # no id: never parsed
    assert reasons["economics/ok"] == f"duplicate source id: already read from {jsonl}:1"
    assert report.by_reason == {"empty": 1, "binary": 1, "not_utf8": 2, "line_too_long": 1, "no_text_layer": 1,
                                "unsupported_file": 1, "not_found": 1, "malformed_json": 1, "missing_field": 1,
                                "bad_discipline": 1, "bad_field": 1, "duplicate_id": 1}
    # the good documents around the bad ones were all stored
    assert report.new == 3 and report.seen == report.new + len(report.rejected)
    titles = {r["title"] for r in falkordb_store.run("MATCH (d:Document) RETURN d.title AS title")}
    assert titles == {"Demand", "Fine", "supply"}
    orphans = falkordb_store.run("MATCH (d:Document) WHERE NOT (d)-[:HAS_CHUNK]->() RETURN count(d) AS n")
    assert orphans == [{"n": 0}]


def test_ingest_then_reingest_unchanged_writes_nothing(falkordb_store: GraphStore) -> None:
    calls: list[tuple[int, int]] = []
    first = IngestStage(falkordb_store, batch_size=3).run(read_any([SAMPLE]), lambda *a: calls.append(a))
    expected_chunks = sum(len(chunk_text(t)) for t in sample_texts())
    assert (first.seen, first.new, first.unchanged, first.changed) == (4, 4, 0, 0) and first.ok
    assert [seen for seen, _ in calls] == [3, 4] and calls[-1][1] == expected_chunks  # two batches
    assert first.summary().startswith("4 seen: 4 new, 0 changed, 0 unchanged, 0 rejected")
    assert first.chunks_written == expected_chunks
    stored = falkordb_store.run("MATCH (:Document)-[:HAS_CHUNK]->(k:Chunk) RETURN count(k) AS n")
    assert stored == [{"n": expected_chunks}]
    hashes = falkordb_store.run("MATCH (d:Document) RETURN d.content_hash AS h")
    assert all(len(r["h"]) == 64 for r in hashes)
    before = snapshot(falkordb_store)

    recording = RecordingStore(falkordb_store)
    again = IngestStage(recording).run(read_any([SAMPLE]))
    assert (again.seen, again.unchanged, again.new, again.changed, again.chunks_written) == (4, 4, 0, 0, 0)
    assert recording.writes == []
    assert snapshot(falkordb_store) == before


def test_changed_document_replaces_its_chunks_and_marks_extractions_stale(falkordb_store: GraphStore) -> None:
    stage = IngestStage(falkordb_store)
    doc = next(d for d in sample_documents() if d.source_id == "economics/m63611")
    stage.run([doc])
    document = Document(source_id=doc.source_id, discipline="economics")
    old_ids = document_chunk_ids(falkordb_store, document.id)
    texts = {r["id"]: r["text"] for r in falkordb_store.run(
        "MATCH (:Document {id: $id})-[:HAS_CHUNK]->(k:Chunk) RETURN k.id AS id, k.text AS text", {"id": document.id})}
    kept_chunk = old_ids[0]
    edited_chunk = next(k for k in old_ids[1:] if "diagram" in texts[k])
    edited_text = texts[edited_chunk]
    assert edited_text in doc.text and "diagram" not in texts[kept_chunk]

    # extractions attached to the chunk that will change, and to one that will not
    def concept(name: str, *chunk_ids: str) -> Concept:
        return Concept(name=name, discipline="economics", chunk_ids=list(chunk_ids), provenance=HAND)

    old_c, old_d = concept("tradeoff diagram", edited_chunk), concept("budget line", edited_chunk)
    fresh_c, shared = concept("scarcity", kept_chunk), concept("opportunity cost", kept_chunk, edited_chunk)
    stale_rel = Relation(type="part_of", subject_id=old_c.id, object_id=old_d.id, discipline="economics",
                         chunk_id=edited_chunk, provenance=HAND)
    fresh_rel = Relation(type="causes", subject_id=fresh_c.id, object_id=shared.id, discipline="economics",
                         chunk_id=kept_chunk, provenance=HAND)
    stale_chain = Chain(discipline="economics", relation_ids=[stale_rel.id], concept_ids=[old_c.id, old_d.id],
                        chunk_id=edited_chunk, provenance=HAND)
    fresh_chain = Chain(discipline="economics", relation_ids=[fresh_rel.id], concept_ids=[fresh_c.id, shared.id],
                        chunk_id=kept_chunk, provenance=HAND)
    written = GraphWriter(falkordb_store).write([old_c, old_d, fresh_c, shared, stale_rel, fresh_rel, stale_chain,
                                                 fresh_chain])
    assert not written.unresolved and written.unlinked_mentions == 0

    # a same-length edit, so the chunk boundaries stay where they were
    changed = doc.model_copy(update={"text": doc.text.replace(edited_text, edited_text.replace("diagram", "drawing"))})
    report = stage.run([changed])
    assert (report.changed, report.unchanged, report.new) == (1, 0, 0)
    new_ids = document_chunk_ids(falkordb_store, document.id)
    expected = [Chunk(document_id=document.id, ordinal=c.ordinal, discipline="economics", text=c.text).id
                for c in chunk_text(normalise_text(changed.text))]
    assert new_ids == expected and len(new_ids) == len(old_ids)
    assert set(old_ids) - set(new_ids) == {edited_chunk}  # only the edited chunk was replaced
    assert report.chunks_deleted == 1
    assert falkordb_store.run("MATCH (k:Chunk {id: $id}) RETURN count(k) AS n", {"id": edited_chunk}) == [{"n": 0}]
    assert report.stale == {"chain": 1, "relation": 1, "concept": 2}

    def stale(label: str, element_id: str) -> Any:
        if label == "RELATION":
            rows = falkordb_store.run("MATCH ()-[r:RELATION {id: $id}]->() RETURN r.stale AS s", {"id": element_id})
        else:
            rows = falkordb_store.run(f"MATCH (n:{label} {{id: $id}}) RETURN n.stale AS s", {"id": element_id})
        return rows[0]["s"]

    assert stale("Chain", stale_chain.id) is True and stale("Chain", fresh_chain.id) is None
    assert stale("RELATION", stale_rel.id) is True and stale("RELATION", fresh_rel.id) is None
    assert stale("Concept", old_c.id) is True and stale("Concept", old_d.id) is True
    assert stale("Concept", fresh_c.id) is None
    assert stale("Concept", shared.id) is None  # still mentioned in a chunk that did not change
    digest = falkordb_store.query("document_hashes", {"ids": [document.id]})
    assert digest == [{"id": document.id, "content_hash": content_hash(normalise_text(changed.text))}]


def test_interrupted_ingest_is_finished_by_the_next_run(falkordb_store: GraphStore) -> None:
    ingest_paths(falkordb_store, [SAMPLE])
    before = snapshot(falkordb_store)
    doc_id = Document(source_id="business/m67736", discipline="business").id
    # what a run killed before its commit leaves: no content hash yet, and only some of the chunks
    falkordb_store.run("MATCH (d:Document {id: $id}) SET d.content_hash = ''", {"id": doc_id}, read_only=False)
    falkordb_store.run("MATCH (:Document {id: $id})-[:HAS_CHUNK]->(k:Chunk) WHERE k.ordinal >= 3 DETACH DELETE k",
                       {"id": doc_id}, read_only=False)
    report = ingest_paths(falkordb_store, [SAMPLE])
    assert (report.unchanged, report.changed, report.chunks_deleted) == (3, 1, 0)
    assert snapshot(falkordb_store) == before


def test_stage_refuses_a_bad_budget(falkordb_store: GraphStore) -> None:
    with pytest.raises(ValueError, match="min_tokens < max_tokens"):
        IngestStage(falkordb_store, max_tokens=30, min_tokens=40)
    with pytest.raises(ValueError, match="batch_size"):
        IngestStage(falkordb_store, batch_size=0)


def test_empty_after_normalisation_is_rejected(falkordb_store: GraphStore) -> None:
    invisible = RawDocument(source_id="economics/void", discipline="economics", text="\u200b\u00ad \ufeff")
    report = IngestStage(falkordb_store).run([invisible])
    assert [(r.item, r.code) for r in report.rejected] == [("economics/void", "empty")]
    assert falkordb_store.run("MATCH (d:Document) RETURN count(d) AS n") == [{"n": 0}]


def test_ingest_catalog_queries(store: GraphStore) -> None:
    """Conformance of the catalog queries ingest added: document_hashes, document_chunks,
    mark_stale_from_chunks, delete_chunks (on every backend)."""
    covers("document_hashes", "document_chunks", "mark_stale_from_chunks", "delete_chunks")
    a = Document(source_id="economics/a", discipline="economics", content_hash="h-a")
    b = Document(source_id="economics/b", discipline="economics")
    ka = [Chunk(document_id=a.id, ordinal=i, discipline="economics", text=f"Chunk {i} of a.") for i in range(3)]
    kb = Chunk(document_id=b.id, ordinal=0, discipline="economics", text="The only chunk of b.")
    GraphWriter(store).write([a, b, *ka, kb])
    hashes = {r["id"]: r["content_hash"] for r in store.query("document_hashes", {"ids": [a.id, b.id, "doc_none"]})}
    assert hashes == {a.id: "h-a", b.id: ""}
    rows = store.query("document_chunks", {"ids": [a.id]})
    assert [(r["chunk_id"], r["ordinal"], r["content_hash"]) for r in rows] == [
        (k.id, k.ordinal, k.content_hash) for k in ka]
    assert store.query("mark_stale_from_chunks", {"chunk_ids": []}) in (
        [], [{"element": e, "marked": 0} for e in ("chain", "relation", "concept")])
    only_a0 = Concept(name="only in a0", discipline="economics", chunk_ids=[ka[0].id])
    also_b = Concept(name="also in b", discipline="economics", chunk_ids=[ka[0].id, kb.id])
    rel = Relation(type="causes", subject_id=only_a0.id, object_id=also_b.id, discipline="economics",
                   chunk_id=ka[0].id)
    chain = Chain(discipline="economics", relation_ids=[rel.id], concept_ids=[only_a0.id, also_b.id],
                  chunk_id=ka[0].id)
    GraphWriter(store).write([only_a0, also_b, rel, chain])
    marked = store.query("mark_stale_from_chunks", {"chunk_ids": [ka[0].id, ka[1].id]})
    assert {r["element"]: r["marked"] for r in marked} == {"chain": 1, "relation": 1, "concept": 1}
    flags = store.run("MATCH (c:Concept) RETURN c.name AS name, c.stale AS stale ORDER BY name")
    assert flags == [{"name": "also in b", "stale": None}, {"name": "only in a0", "stale": True}]
    # a chunk of another document is not deleted through this one
    deleted = store.query("delete_chunks", {"rows": [{"document_id": a.id, "chunk_id": ka[1].id},
                                                     {"document_id": a.id, "chunk_id": kb.id}]})
    assert deleted == [{"deleted": 1}]
    remaining = {r["chunk_id"] for r in store.query("document_chunks", {"ids": [a.id, b.id]})}
    assert remaining == {ka[0].id, ka[2].id, kb.id}
