"""Split a normalised document into chunks on section and paragraph boundaries, within a token budget.

The order of preference for a boundary is: a Markdown section heading (``# `` or ``## ``), a
paragraph break (blank line), a sentence end, and, only for a sentence longer than the whole
budget, a space between words. A word is never split, and no text is dropped: joining the chunk
texts gives back the input, up to whitespace.

Token counts are an *estimate*, computed offline with no tokenizer or model: the larger of
``1.3 × words`` (English prose averages about 0.75 words per BPE token) and ``chars / 4`` (the usual
rule of thumb, which dominates for text with long "words" such as URLs, code or formulas). Both are
additive over whitespace-joined pieces, so packing is exact with respect to the estimate.

Sections smaller than ``min_tokens`` (typically a heading that only introduces sub-sections) are
carried into the next section, and a small last chunk of a section takes over the end of the chunk
before it, so chunks too small to extract anything from are rare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
_SECTION_HEADING = re.compile(r"^#{1,2} (\S.*)$")
# A sentence end: terminal punctuation, optional closing quotes or brackets, then whitespace.
_SENTENCE_END = re.compile(r"([.!?…][\"'”’)\]]*)(\s+)(?=\S)")
_WORD_GAP = re.compile(r"()(\s+)")
PARAGRAPH_SEP = "\n\n"
SECTION_JOIN = " / "


@dataclass(frozen=True)
class ChunkSpan:
    """One chunk of a document: its position, the section it belongs to, its text and token estimate."""

    ordinal: int
    section: str
    text: str
    n_tokens: int


def _estimate(words: int, chars: int) -> int:
    return max((words * 13 + 9) // 10, (chars + 3) // 4)


def estimate_tokens(text: str) -> int:
    """Return the token estimate of ``text``: ``max(ceil(1.3 × words), ceil(chars / 4))``."""
    return _estimate(len(text.split()), len(text))


@dataclass(frozen=True)
class _Piece:
    sep: str  # whitespace placed before this piece when it follows another in a chunk
    text: str
    words: int
    chars: int


def _piece(sep: str, text: str) -> _Piece:
    return _Piece(sep, text, len(text.split()), len(text))


class _Chunk:
    def __init__(self, section: str) -> None:
        self.section = section
        self.pieces: list[_Piece] = []
        self.words = 0
        self.chars = 0

    @property
    def tokens(self) -> int:
        return _estimate(self.words, self.chars)

    def tokens_with(self, p: _Piece, *, front: bool = False) -> int:
        if not self.pieces:
            return _estimate(p.words, p.chars)
        sep = self.pieces[0].sep if front else p.sep
        return _estimate(self.words + p.words, self.chars + len(sep) + p.chars)

    def add(self, p: _Piece, *, front: bool = False) -> None:
        if self.pieces:
            self.chars += len(self.pieces[0].sep if front else p.sep)
        self.words += p.words
        self.chars += p.chars
        if front:
            self.pieces.insert(0, p)
        else:
            self.pieces.append(p)

    def pop(self) -> _Piece:
        p = self.pieces.pop()
        self.words -= p.words
        self.chars -= p.chars + (len(p.sep) if self.pieces else 0)
        return p

    def render(self) -> str:
        return "".join((p.sep if i else "") + p.text for i, p in enumerate(self.pieces))


def _split(text: str, boundary: re.Pattern[str], first_sep: str) -> list[_Piece]:
    """Split ``text`` at ``boundary`` matches (group 1 stays left, group 2 is the separator)."""
    pieces: list[_Piece] = []
    pos, sep = 0, first_sep
    for m in boundary.finditer(text):
        cut = m.start() + len(m.group(1))
        pieces.append(_piece(sep, text[pos:cut]))
        sep, pos = m.group(2), m.end()
    pieces.append(_piece(sep, text[pos:]))
    return pieces


def _paragraph_pieces(paragraph: str, max_tokens: int) -> list[_Piece]:
    """A paragraph as one piece, or as sentences (and word runs) when it exceeds the budget."""
    whole = _piece(PARAGRAPH_SEP, paragraph)
    if _estimate(whole.words, whole.chars) <= max_tokens:
        return [whole]
    pieces: list[_Piece] = []
    for sentence in _split(paragraph, _SENTENCE_END, PARAGRAPH_SEP):
        if _estimate(sentence.words, sentence.chars) <= max_tokens:
            pieces.append(sentence)
        else:  # a sentence over the budget: fall back to the spaces between words
            pieces.extend(_split(sentence.text, _WORD_GAP, sentence.sep))
    return pieces


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """Paragraphs grouped by section; a heading paragraph opens its section (and stays in its text)."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for raw in _PARAGRAPH_BREAK.split(text):
        paragraph = raw.strip()
        if not paragraph:
            continue
        m = _SECTION_HEADING.match(paragraph)
        if m is not None and "\n" not in paragraph:
            sections.append((m.group(1).strip(), [paragraph]))
        else:
            sections[-1][1].append(paragraph)
    return [s for s in sections if s[1]]


def _label(*parts: str) -> str:
    return SECTION_JOIN.join(p for p in parts if p)


def _pack(section: str, paragraphs: list[str], max_tokens: int, min_tokens: int) -> list[_Chunk]:
    chunks: list[_Chunk] = []
    for paragraph in paragraphs:
        for p in _paragraph_pieces(paragraph, max_tokens):
            if not chunks or chunks[-1].tokens_with(p) > max_tokens:
                chunks.append(_Chunk(section))
            chunks[-1].add(p)
    if len(chunks) >= 2:
        # a small last piece cannot simply join the chunk before (greedy packing already found it
        # does not fit), so move trailing pieces of that chunk over until it is big enough
        prev, last = chunks[-2], chunks[-1]
        while (last.tokens < min_tokens and len(prev.pieces) > 1
               and last.tokens_with(prev.pieces[-1], front=True) <= max_tokens):
            last.add(prev.pop(), front=True)
    return chunks


def _merged_piece(chunk: _Chunk) -> _Piece:
    return _Piece(chunk.pieces[0].sep, chunk.render(), chunk.words, chunk.chars)


def chunk_text(text: str, max_tokens: int = 400, min_tokens: int = 40) -> list[ChunkSpan]:
    """Split ``text`` (normalised, see :func:`~proda.pipelines.ingest.normalise.normalise_text`) into chunks.

    Returns the chunks in document order, numbered from 0. Every chunk's ``n_tokens`` is at most
    ``max_tokens``, except a chunk holding a single word longer than the budget on its own. A chunk
    never spans two sections, except that a section smaller than ``min_tokens`` is carried into the
    next one, or, when it is the last, joins the chunk before it if that fits (``section`` then names
    both, joined by ``" / "``). Deterministic. Returns ``[]`` for text with no visible content.
    Raises :class:`ValueError` unless ``0 <= min_tokens < max_tokens``.
    """
    if max_tokens < 1 or not 0 <= min_tokens < max_tokens:
        raise ValueError(f"need 0 <= min_tokens < max_tokens, got min_tokens={min_tokens}, max_tokens={max_tokens}")
    chunks: list[_Chunk] = []
    carried_labels: list[str] = []
    carried: list[str] = []
    sections = _sections(text)
    for i, (heading, paragraphs) in enumerate(sections):
        label = _label(*carried_labels, heading)
        paragraphs = carried + paragraphs
        size = estimate_tokens(PARAGRAPH_SEP.join(paragraphs))
        if size < min_tokens and i < len(sections) - 1:
            carried_labels, carried = [*carried_labels, heading], paragraphs
            continue
        carried_labels, carried = [], []
        new = _pack(label, paragraphs, max_tokens, min_tokens)
        if size < min_tokens and chunks and chunks[-1].tokens_with(_merged_piece(new[0])) <= max_tokens:
            # a small last section: join the chunk before rather than stand alone
            chunks[-1].add(_merged_piece(new[0]))
            chunks[-1].section = _label(chunks[-1].section, label)
        else:
            chunks.extend(new)
    return [ChunkSpan(ordinal=n, section=c.section, text=c.render(), n_tokens=c.tokens) for n, c in enumerate(chunks)]
