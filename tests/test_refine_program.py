"""The RefineX program language: the parser accepts exactly the vocabulary, the executor only deletes."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proda.errors import InputError
from proda.pipelines.refine.interpreter import execute, is_subsequence
from proda.pipelines.refine.program import (
    DROP,
    KEEP,
    DropDoc,
    KeepDoc,
    Program,
    ProgramError,
    RemoveLines,
    RemoveStr,
    number_lines,
    parse_program,
)

DOC = ("Home | About | Contact\nThe cell is the unit of life.\nAdvertisement\nCells divide. [Ad: buy now] They grow."
       "\n© 2024")

# -- parser ---------------------------------------------------------------------------------------------


def test_parses_the_four_statements_with_whitespace_and_blank_lines() -> None:
    program = parse_program('\n  remove_lines( 1 ,1 )\n\nremove_str(4, " [Ad: buy now]")\nkeep_doc( )\n')
    assert program.ops == (RemoveLines(1, 1), RemoveStr(4, " [Ad: buy now]"), KeepDoc())
    assert parse_program("drop_doc()").ops == (DropDoc(),)
    assert parse_program("").ops == () and parse_program("").render() == "keep_doc()"


def test_string_literals_are_json_with_escapes() -> None:
    program = parse_program(r'remove_str(2, "say \"hi\" \\ \u00e9\t")')
    assert program.ops == (RemoveStr(2, 'say "hi" \\ é\t'),)


@pytest.mark.parametrize(("text", "why"), [
    ("remove_line(1, 2)", "vocabulary"),
    ("print('hi')", "vocabulary"),
    ("import os", "vocabulary"),
    ("remove_lines(line_start=1, line_end=2)", "malformed"),   # ProX's keyword form is not ours
    ("remove_lines(0, 2)", "numbered from 1"),
    ("remove_lines(5, 2)", "ends before"),
    ("remove_lines(1)", "malformed"),
    ("remove_lines(1, 2); drop_doc()", "malformed"),
    ("remove_str(1, 'single quotes')", "malformed"),
    ('remove_str(1, "")', "empty"),
    ('remove_str(1, "a\\nb")', "spans lines"),
    ('remove_str(1, "bad \\q escape")', "string literal"),
    ('remove_str(0, "x")', "numbered from 1"),
    ('remove_str(1, "x" "y")', "malformed"),               # no implicit concatenation
    ("normalize(source_str=\"a\", target_str=\"b\")", "vocabulary"),  # rewriting is excluded
    ("keep_doc()\ndrop_doc()", "contradict"),
    ("drop_doc(1)", "malformed"),
])
def test_rejects_everything_outside_the_vocabulary(text: str, why: str) -> None:
    with pytest.raises(ProgramError, match=why):
        parse_program(text)


def test_errors_name_the_statement_line_and_are_input_errors() -> None:
    with pytest.raises(ProgramError) as info:
        parse_program("remove_lines(1, 1)\n\nexec('rm -rf /')")
    assert info.value.line == 3 and isinstance(info.value, InputError)
    assert "program:3:" in str(info.value)


def test_more_statements_than_the_cap_fail_closed() -> None:
    with pytest.raises(ProgramError, match="more than"):
        parse_program("remove_lines(1, 1)\n" * 10_001)


_STATEMENT = re.compile(r'^(keep_doc\(\s*\)|drop_doc\(\s*\)|remove_lines\(\s*\d+\s*,\s*\d+\s*\)|'
                        r'remove_str\(\s*\d+\s*,\s*"(?:[^"\\]|\\.)*"\s*\))$')


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_arbitrary_text_parses_only_if_every_line_is_a_statement(text: str) -> None:
    try:
        program = parse_program(text)
    except ProgramError:
        return
    for line in text.split("\n"):
        assert not line.strip() or _STATEMENT.match(line.strip()), line
    assert parse_program(program.render()).render() == program.render()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["keep_doc()", "drop_doc()", "remove_lines(1, 2)", 'remove_str(1, "x")']),
       st.integers(0, 20), st.characters(blacklist_categories=("Cs",)))
def test_a_corrupted_statement_is_rejected_or_still_in_the_grammar(statement: str, at: int, ch: str) -> None:
    corrupted = statement[:at] + ch + statement[at:]
    try:
        program = parse_program(corrupted)
    except ProgramError:
        return
    assert all(isinstance(op, KeepDoc | DropDoc | RemoveLines | RemoveStr) for op in program.ops)


# -- executor -------------------------------------------------------------------------------------------


def test_applies_substrings_then_ranges_on_original_line_numbers() -> None:
    program = parse_program('remove_lines(1, 1)\nremove_lines(3, 3)\nremove_str(4, " [Ad: buy now]")\n'
                            "remove_lines(5, 5)")
    run = execute(program, DOC)
    assert run.text == "The cell is the unit of life.\nCells divide. They grow."
    assert run.removed_lines == [0, 2, 4] and run.lines_removed == 3 and not run.issues
    assert run.chars_removed == len(DOC) - len(run.text)


def test_keep_and_drop() -> None:
    assert execute(KEEP, DOC).text == DOC and execute(Program(), DOC).chars_removed == 0
    dropped = execute(DROP, DOC)
    assert dropped.text == "" and dropped.dropped and dropped.lines_removed == 5


def test_deleting_every_line_is_a_drop_not_an_error() -> None:
    run = execute(parse_program("remove_lines(1, 3)\nremove_lines(4, 5)"), DOC)
    assert run.dropped and run.text == "" and not run.issues


def test_document_dependent_problems_are_resolved_deterministically_and_counted() -> None:
    program = parse_program('remove_lines(9, 12)\nremove_lines(4, 99)\nremove_lines(1, 2)\nremove_lines(2, 2)\n'
                            'remove_str(2, "cell")\nremove_str(3, "not there")\nremove_str(40, "x")\ndrop_doc()')
    assert execute(program, DOC).issues == {"shadowed_by_drop": 7}
    without_drop = Program(tuple(op for op in program.ops if not isinstance(op, DropDoc)))
    run = execute(without_drop, DOC)
    assert run.issues == {"line_out_of_range": 2, "range_clipped": 1, "overlapping_range": 1,
                          "str_not_found": 1, "str_in_removed_line": 1}
    assert run.text == "Advertisement"
    assert execute(without_drop, DOC) == run  # deterministic


def test_substring_removals_on_one_line_apply_in_program_order() -> None:
    run = execute(parse_program('remove_str(1, "ab")\nremove_str(1, "ab")\nremove_str(1, "ab")'), "xabyabz")
    assert run.text == "xyz" and run.issues == {"str_not_found": 1}


def test_numbered_view_matches_executor_numbering_and_bounds_long_lines() -> None:
    text = "a\r\nb\n\n" + "x" * 1_000_000
    view = number_lines(text, first=7, max_line_chars=90)
    assert view.split("\n")[:3] == ["[7] a\r", "[8] b", "[9] "]
    assert len(view) < 200 and "[...999910 chars...]" in view


def _documents() -> st.SearchStrategy[str]:
    line = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=12)
    return st.lists(line, max_size=8).map("\n".join)


def _programs() -> st.SearchStrategy[str]:
    statement = st.one_of(
        st.just("keep_doc()"), st.just("drop_doc()"),
        st.tuples(st.integers(1, 10), st.integers(0, 6)).map(lambda t: f"remove_lines({t[0]}, {t[0] + t[1]})"),
        st.tuples(st.integers(1, 10), st.text(min_size=1, max_size=4).filter(lambda s: "\n" not in s)).map(
            lambda t: f"remove_str({t[0]}, {json.dumps(t[1])})"),
        st.text(max_size=20))  # garbage the parser must reject
    return st.lists(statement, max_size=6).map("\n".join)


@settings(max_examples=400, deadline=None)
@given(_programs(), _documents())
def test_output_is_always_a_subsequence_of_the_input(program_text: str, doc: str) -> None:
    try:
        program = parse_program(program_text)
    except ProgramError:
        return
    run = execute(program, doc)
    assert is_subsequence(run.text, doc)
    assert run.chars_removed == len(doc) - len(run.text) >= 0
    assert run.dropped == (run.lines_removed == run.lines_in)
    assert execute(program, doc) == run


def test_is_subsequence() -> None:
    assert is_subsequence("ace", "abcde") and not is_subsequence("aec", "abcde") and is_subsequence("", "")
