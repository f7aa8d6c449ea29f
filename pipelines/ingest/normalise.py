"""Text normalisation applied to every document before it is hashed and chunked.

The normalised text is what :attr:`Document.content_hash` covers, so two files that differ only in
line endings, invisible characters or spacing are the same document and re-ingesting them is a
no-op. The rules are deliberately conservative: they remove noise that extraction never needs and
keep everything a reader would see.

Why NFC and not NFKC for body text: NFKC folds "compatibility" characters, which changes what the
text says, not only how it is encoded: ``10²`` becomes ``102``, ``½`` becomes ``1⁄2``, ``H₂O``
becomes ``H2O``, ``…`` becomes ``...`` and ``™`` becomes ``TM``. Relation evidence must be a verbatim
span of its chunk and formulas must keep their meaning, so body text only gets the canonical
composition (NFC: ``e`` + combining acute -> ``é``). Concept *names* are NFKC-folded for matching in
:func:`proda.schema.ids.normalise_name`, where that loss is wanted.
"""

from __future__ import annotations

import re
import unicodedata

# Line and paragraph separators other than "\n" (CR, CRLF, NEL, LS, VT, FF) become "\n"; the Unicode
# paragraph separator becomes a blank line.
_NEWLINES = re.compile(r"\r\n|[\r\x85\u2028\x0b\x0c]")
# Characters removed outright: C0/C1 controls except tab, newline and NEL (handled above), and the
# invisible characters that only break words apart for search and tokenisers: soft hyphen,
# zero-width space, word joiner, BOM. ZWJ/ZWNJ (U+200C/D) are kept: they change the rendering of
# emoji and of Indic and Persian scripts.
_REMOVED = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u200b\u2060\ufeff]")
# A word broken across a line end: letter, hyphen, newline, letter. The literal comes first so the
# engine only tries the look-behind at hyphens.
_HYPHENATED = re.compile(r"-(?<=[^\W\d_]-)\n(?=[^\W\d_])")
_HEADING = re.compile(r"^#{1,6} \S")  # CommonMark: "#" without a space is not a heading
_BLANK_LINES = re.compile(r"\n{3,}")


def _join_hyphenated(m: re.Match[str]) -> str:
    # "multi-\nple" -> "multiple"; "Anglo-\nSaxon" keeps its hyphen: an upper-case letter after the
    # break marks a compound of names rather than a word split by the typesetter.
    return "-" if m.string[m.end()].isupper() else ""


def normalise_text(text: str) -> str:
    """Return ``text`` normalised for hashing and chunking.

    Applies, in order: unified newlines; removal of control and invisible characters; Unicode NFC;
    every run of horizontal whitespace collapsed to one space and lines trimmed; words hyphenated
    across a line break rejoined (only where both sides are letters); Markdown heading lines
    (``## Heading``) set apart as their own paragraph; at most one blank line between paragraphs.
    Single newlines inside a paragraph are kept. Idempotent; never raises; the result is ``""`` for
    text with nothing visible in it.
    """
    text = _NEWLINES.sub("\n", text).replace("\u2029", "\n\n")
    # remove invisibles before composing, so a base letter and its combining mark that an invisible
    # character separated still compose
    text = unicodedata.normalize("NFC", _REMOVED.sub("", text))
    # str.split() with no argument splits on every Unicode space (tab, NBSP, thin and em spaces...)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    text = _HYPHENATED.sub(_join_hyphenated, "\n".join(lines))
    out: list[str] = []
    for line in text.split("\n"):
        if _HEADING.match(line):
            # a heading is its own paragraph, so the chunker sees a section boundary
            out.extend(["", line, ""])
        else:
            out.append(line)
    return _BLANK_LINES.sub("\n\n", "\n".join(out)).strip()
