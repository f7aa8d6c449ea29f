"""Distillation: the minimal deletion program reproduces the deletion-only approximation; the reliability
filter discards rewrites with their reason; the benchmark's noise keeps its template halves apart."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proda.pipelines.refine.distill import ReliabilityFilter, distill
from proda.pipelines.refine.interpreter import execute, is_subsequence
from proda.pipelines.refine.noise import CLEAN, KINDS, NoiseGenerator, excerpts, template_halves
from proda.pipelines.refine.program import DROP, KEEP, RemoveLines, RemoveStr, parse_program
from proda.pipelines.refine.scoring import char_counts, line_counts, score

FIXTURE = Path(__file__).parent / "fixtures" / "refine" / "openstax_excerpts.jsonl"


def _docs() -> list[dict[str, str]]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def test_whole_lines_and_inline_snippets_become_ranges_and_substring_removals() -> None:
    raw = ("Home | About | Contact\n\nThe cat the dog sat on the mat.\nphoto- synthesis turns light into sugar.\n"
           "Cookies! Accept all\nPage 3\n\nLast line of the text.")
    refined = "The cat dog sat on the mat.\nphotosynthesis turns light into sugar.\n\nLast line of the text."
    d = distill(raw, refined)
    assert d.program.ops == (RemoveStr(3, " the"), RemoveStr(4, "- "), RemoveLines(1, 2), RemoveLines(5, 6))
    assert d.approximation == refined == execute(d.program, raw).text
    assert d.inserted_chars == d.unexpressible_chars == 0 and d.lines_removed == 4
    assert parse_program(d.program.render()) == d.program


def test_identical_empty_and_dropped() -> None:
    assert distill("same\ntext", "same\ntext").program == KEEP
    d = distill("Home | Menu\nLogin", "  \n")
    assert d.program == DROP and d.approximation == "" and d.deleted_chars == len("Home | Menu\nLogin")


def test_first_occurrence_semantics_slide_or_count_the_unsayable() -> None:
    # "x- y - z" -> "xy - z": the "- " to delete is the first occurrence: fine
    assert distill("ab- cd - e", "abcd - e").program.ops == (RemoveStr(1, "- "),)
    # the second "- " cannot be addressed: a language limit, counted, never a wrong deletion
    d = distill("- item with hyphen- ation", "- item with hyphenation")
    assert d.unexpressible_chars == 2 and d.approximation == "- item with hyphen- ation"
    assert d.inserted_chars == 0


def test_blank_lines_do_not_anchor_the_alignment() -> None:
    raw = "MENU\n\nHEADER\n\nFirst para with an [ad] inside it.\n\nSecond para."
    refined = "First para with an inside it.\n\nSecond para."
    d = distill(raw, refined)
    assert d.approximation == refined and d.program.ops[0] == RemoveStr(5, " [ad]")


def test_one_range_where_a_blank_line_could_be_kept_either_side() -> None:
    raw = "Para one.\nAdvertisement\n\n\nPara two."
    d = distill(raw, "Para one.\n\nPara two.")
    assert d.program.ops == (RemoveLines(2, 3),)


_WORD = st.text(alphabet="abcdefgh ", min_size=1, max_size=6)


@st.composite
def _deletion_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """A raw text and a refinement made from it by deletions only: whole lines and one span per long line."""
    lines = draw(st.lists(st.lists(_WORD, min_size=1, max_size=12).map("".join), min_size=1, max_size=10))
    refined: list[str] = []
    for line in lines:
        action = draw(st.sampled_from(["keep", "drop", "span"]))
        if action == "drop":
            continue
        if action == "span" and len(line) > 30:
            a = draw(st.integers(0, len(line) - 22))
            b = draw(st.integers(a + 1, a + 8))
            line = line[:a] + line[b:]
        refined.append(line)
    return "\n".join(lines), "\n".join(refined)


@settings(max_examples=250, deadline=None)
@given(_deletion_pairs())
def test_round_trip_reproduces_the_deletion_only_approximation(pair: tuple[str, str]) -> None:
    raw, refined = pair
    d = distill(raw, refined)
    run = execute(d.program, raw)
    assert run.text == d.approximation and is_subsequence(d.approximation, raw)
    assert not run.issues  # distilled programs never rely on the executor's tolerance
    if refined.strip():
        # refined is a deletion of raw: nothing to insert, and exact unless the language cannot say it
        assert d.inserted_chars == 0
        assert d.approximation == refined or d.unexpressible_chars > 0


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_any_pair_gives_a_valid_program_whose_output_is_its_approximation(raw: str, refined: str) -> None:
    d = distill(raw, refined)
    assert execute(d.program, raw).text == d.approximation
    assert parse_program(d.program.render()).render() == d.program.render()


def test_reliability_filter_discards_rewrites_with_the_reason() -> None:
    raw = "Photosynthesis converts light energy into chemical energy.\nShare | Tweet"
    keep = ReliabilityFilter(max_insert_ratio=0.05)
    ok, reason = keep(distill(raw, "Photosynthesis converts light energy into chemical energy."))
    assert ok and reason == ""
    paraphrase = distill(raw, "Plants turn sunlight into sugar, a process called photosynthesis.")
    ok, reason = keep(paraphrase)
    assert not ok and "not explained by deletions" in reason and paraphrase.insert_ratio > 0.05
    # whitespace reflow is not a rewrite
    ok, _ = keep(distill(raw, "Photosynthesis converts light energy into chemical energy.\n\n"))
    assert ok


def test_reliability_filter_flags_deletions_the_language_cannot_state() -> None:
    raw = "\n".join(f"- point {i} is broken- ly hyphen- ated here" for i in range(5))
    refined = "\n".join(f"- point {i} is brokenly hyphenated here" for i in range(5))
    d = distill(raw, refined)
    assert d.unexpressible_chars > 0
    ok, reason = ReliabilityFilter(max_unexpressible_ratio=0.01)(d)
    assert not ok and "cannot state" in reason


# -- the benchmark's noise ---------------------------------------------------------------------------------


def test_template_halves_are_disjoint() -> None:
    for kind, (train, heldout) in template_halves().items():
        assert train and heldout and not set(train) & set(heldout), kind


def test_noise_only_inserts_and_labels_every_line() -> None:
    docs = _docs()
    rng = random.Random(3)
    seen: set[str] = set()
    for half in ("train", "heldout"):
        gen = NoiseGenerator(half, seed=3)  # type: ignore[arg-type]
        for rec in docs:
            for k, text in enumerate(excerpts(rec["text"], max_chars=1200, rng=rng, count=3)):
                doc = gen.document(f"{rec['id']}#{k}", text, title=rec["title"], book=rec["book"])
                assert is_subsequence(doc.clean, doc.raw)
                assert len(doc.labels) == len(doc.raw.split("\n"))
                assert "\n".join(ln for ln, lab in zip(doc.raw.split("\n"), doc.labels, strict=True)
                                 if lab == CLEAN).replace("- ", "").replace("-  ", "") is not None
                for copy, original in doc.twins.items():
                    assert doc.raw.split("\n")[copy] == doc.raw.split("\n")[original]
                seen.update(doc.noise_kinds)
                # the oracle: distilling against the clean text gives it back (or says why not)
                d = distill(doc.raw, doc.clean)
                assert d.inserted_chars == 0
                assert d.approximation == doc.clean or d.unexpressible_chars > 0
    assert seen == set(KINDS)


def test_noise_is_deterministic_per_seed_and_half() -> None:
    text = _docs()[0]["text"][:1500]
    a = NoiseGenerator("train", seed=7).document("d", text)
    b = NoiseGenerator("train", seed=7).document("d", text)
    c = NoiseGenerator("heldout", seed=7).document("d", text)
    assert a == b and a.raw != c.raw


def test_scoring_counts_noise_and_clean_characters_and_lines() -> None:
    gen = NoiseGenerator("heldout", seed=1, p_clean=0.0, p_junk=0.0, rate=3.0)
    doc = gen.document("d", _docs()[1]["text"][:1500])
    oracle = execute(distill(doc.raw, doc.clean).program, doc.raw)
    perfect = score([(doc, oracle.text, oracle.removed_lines)])
    assert perfect.chars.f1 == pytest.approx(1.0) and perfect.clean_preserved == 1.0
    assert perfect.lines.fp == perfect.lines.fn == 0 and perfect.lines.tp > 0
    nothing = score([(doc, doc.raw, [])])
    assert nothing.chars.recall == 0.0 and nothing.chars.precision == 1.0 and nothing.lines.tp == 0
    counts, kept = char_counts(doc.raw, doc.clean, "")
    assert counts.tp == len(doc.raw) - len(doc.clean) and counts.fp == len(doc.clean) and kept == 0
    everything = line_counts(doc, range(len(doc.labels)))
    assert everything.fn == 0 and everything.fp > 0
