"""Relation patterns and concept phrases for the heuristic extractor (:mod:`.heuristic`).

Plain regular expressions and small word lists: no model, no tagger, no network. Without a
part-of-speech tagger a noun phrase is found by walking outwards from a trigger ("leads to",
"is a", "consists of") until a word that cannot sit inside a noun phrase (a verb, an auxiliary, a
pronoun, a subordinator, punctuation). Whatever is doubtful is dropped: the triples become graph
nodes, and for a baseline a missed triple costs less than a junk concept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

RawTriple = tuple[str, str, str]


def _words(s: str) -> frozenset[str]:
    return frozenset(s.split())


# --------------------------------------------------------------------------------------------
# Word lists
# --------------------------------------------------------------------------------------------

ARTICLES = _words("a an the")
DETERMINERS = ARTICLES | _words(
    "such its their his her our your my each every any some another many most all both several few "
    "various certain other same own")
DEMONSTRATIVES = _words("this these those")
PRONOUNS = _words(
    "it they them we us you he she him i me this that these those which what who whom whose one ones "
    "something anything everything nothing someone anyone everyone itself themselves yourself "
    "ourselves there here others")
# Prepositions that may sit inside a noun phrase ("price of a good", "increase in demand").
NP_PREPOSITIONS = _words("of in for on between per")
OTHER_PREPOSITIONS = _words(
    "to into onto by at about through during without with like via toward towards upon under over "
    "against from after before beyond around behind below above near since until despite among across "
    "along within throughout")
CONJUNCTIONS = _words("and or but nor")
SUBORDINATORS = _words(
    "which that who whom whose where when whenever while if unless because since although though "
    "whereas whether so than as once until then thus therefore however hence yet also too how why")
MODALS = _words(
    "can could will would shall should may might must do does did not never cannot can't won't don't "
    "doesn't didn't no")
AUXILIARIES = MODALS | _words("is are was were be been being am has have had having isn't aren't wasn't weren't")
NEGATIONS = _words("not never cannot can't won't don't doesn't didn't isn't aren't wasn't weren't no")
# Words that are nouns as often as verbs; inside a noun phrase they read as nouns.
AMBIGUOUS = _words(
    "increase increases decrease decreases result results cause causes rise rises fall falls shift "
    "shifts use uses measure measures work works study studies set sets run runs help helps need needs "
    "pay call calls show shows hold holds means lead leads raise raises change changes cost costs "
    "supply supplies demand demands plan plans act acts face faces charge charges offer offers return "
    "returns store stores design designs support supports focus gain gains purchase purchases trade "
    "trades control controls report reports process processes value values price prices experience "
    "experiences spending saving savings")
# Frequent verbs; a noun-phrase walk stops at them (AMBIGUOUS ones only outside a noun phrase).
VERBS = AMBIGUOUS | _words(
    "see sees saw seen know knows knew known think thinks thought say says said tell tells told go "
    "goes went gone come comes came become becomes became seem seems seemed appear appears want wants "
    "wanted try tries tried find finds found give gives gave given take takes took taken make makes "
    "made get gets got put puts keep keeps kept let lets begin begins began happen happens happened "
    "occur occurs occurred exist exists existed remain remains remained tend tends tended provide "
    "provides provided create creates created helped sell sells sold buy buys bought paid choose "
    "chooses chose decide decides decided believe believes believed feel feels felt mean meant "
    "involve involves involved describe describes described explain explains explained determine "
    "determines determined affect affects affected depend depends depended rely relies relied refer "
    "refers referred called define defines defined consider considers considered used include "
    "includes included contain contains contained consist consists consisted require requires required "
    "allow allows allowed enable enables enabled caused led resulted increased raised reduce reduces "
    "reduced decreased lowers lowered prevent prevents prevented measured follow follows followed "
    "precede precedes preceded boost boosts boosted improve improves improved inhibit inhibits "
    "inhibited rose risen fell fallen grow grows grew grown shifted held ran learn learns learned "
    "studied worked produce produces produced reflect reflects reflected represent represents "
    "represented contribute contributes contributed generate generates generated combine combines "
    "combined compare compares compared consume consumes consumed invest invests invested earn earns "
    "earned spend spends spent save saves saved borrow borrows borrowed lend lends lent hire hires "
    "hired employ employs employed operate operates operated manage manages managed compete competes "
    "competed develop develops developed build builds built write writes wrote written read reads "
    "assign assigns assigned analyze analyzes analyzed apply applies applied acted lose loses lost win "
    "wins won receive receives received expect expects expected reach reaches reached move moves moved "
    "serve serves served based related associated located designed owned needed focused charged "
    "offered returned stored supported controlled reported valued priced traded purchased planned "
    "confuse confuses confused check checks checked ensure ensures ensured encourage encourages "
    "encouraged discuss discusses discussed identify identifies identified understand understands "
    "understood recognize recognizes recognized")
ADVERBS = _words(
    "also often usually generally typically always never sometimes then thus therefore still only "
    "even just further directly eventually ultimately actually really mainly largely primarily "
    "simply clearly certainly necessarily automatically effectively significantly greatly frequently "
    "commonly normally likely probably possibly indeed already again instead rather quickly slowly "
    "naturally immediately gradually substantially dramatically very quite much twice")
_LY_WORDS = _words(
    "supply monopoly oligopoly duopoly family assembly anomaly italy july rally ally fly reply belly "
    "early daily weekly monthly quarterly yearly costly friendly elderly timely orderly lonely lively "
    "only ugly holy")
# Heads too vague to be a concept ("a good way", "the following", "a lot").
VAGUE_HEADS = _words(
    "way ways thing things lot lots bit idea ideas example examples kind kinds type types sort sorts "
    "form forms part parts following number numbers case cases fact facts issue issues aspect aspects "
    "matter time times point points question questions situation situations reason reasons step steps "
    "item items area areas")
# Single words too vague to stand alone as a concept ("the result is ...", "the answer depends on").
VAGUE_ALONE = VAGUE_HEADS | _words(
    "result results answer answers outcome effect effects consequence impact purpose goal aim key trick "
    "problem challenge benefit advantage disadvantage difference solution option choice first second "
    "third last next other note change changes factor factors hundreds thousands millions billions two "
    "three four five six seven eight nine ten dozen")
# Words that may open a phrase but cannot be its head ("more", "the same").
NON_HEADS = DETERMINERS | _words(
    "more less fewer higher lower greater larger smaller new first last next previous major main key "
    "important different similar particular specific general overall total able positive negative good "
    "bad useful helpful necessary possible common difficult easy simple effective efficient successful "
    "better best worse worst great real true false free high low large small big following")
_COMPARATIVES = _words("more less fewer higher lower greater larger smaller")
_ED_NOUN_ENDS = _words("demanded supplied")  # "quantity demanded", "quantity supplied"
_ADJECTIVE_ENDINGS = ("ed", "ous", "ful", "able", "ible", "ical", "atic", "etic")
_OPENING_JUNK = _words("following above below aforementioned same example")
# "examples of X", "part of Y": the concept is X, and the phrase is not it.
_QUANTITY_HEADS = _words(
    "example examples kind kinds type types sort sorts lot lots bit part parts some all most many each "
    "none any variety range host array series majority")
# Where a subject walk may end: a determiner, clause punctuation, the sentence start, "but".
_CLEAN_STOPS = frozenset({"<det>", ",", "^", "but"})
# Subordinators after which a new subject starts ("because X causes Y"); "than", "as", "how" do not.
_CLAUSE_OPENERS = _words("which that who because since although though whereas while so then thus therefore "
                         "however hence yet also")
# A clause opened by these is not an assertion ("If the task is a writing assignment, ...").
_CONDITIONAL = _words("if unless whether when whenever once until suppose")
# Frequent function words of other languages that are not English words ("die", "de" are left out).
FOREIGN_MARKERS = _words(
    "le la les des une est et du dans pour que qui avec sur pas sont au aux ces cette "
    "der das und ist ein eine nicht mit zu den von sich auch dem wird sind oder eines einer "
    "el los las y es por para con del una lo se su al como más pero sus "
    "il di che non della per gli sono anche nel "
    "os da em um uma não com dos mais")
ENGLISH_MARKERS = _words(
    "the of and to a in is that for it as with are on be by this or an which from at not have has "
    "was were can will their its these than also other")

# A word: letters, digits and inner hyphens/apostrophes; a period only in a decimal ("3.5") or an
# initialism ("U.S."), so glued text such as "negotiations.Toby" is no word.
_TOKEN = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9’'\-&/%]|(?<=\d)\.(?=\d))*|(?:[A-Za-z]\.){2,})$")
_DOTTED = re.compile(r"(?:[A-Za-z]\.){2,}")
_SEGMENT_END = re.compile(r"[;:!?]|(?<!\d),|,(?!\d)")  # a comma inside "1,000" is no boundary

# --------------------------------------------------------------------------------------------
# Sentence clean-up and concept phrases
# --------------------------------------------------------------------------------------------

_PARENTHETICAL = re.compile(r"\s+\([^()]*\)|\s+\[[^\[\]]*\]")
_QUOTES = re.compile(r"[\"“”‘]|(?<![A-Za-z])[’']|[’'](?![A-Za-z])")
_ADVERBIALS = re.compile(
    r",?\s*\b(?:for example|for instance|in turn|in general|in other words|in fact|in particular|"
    r"of course|in the (?:short|long|medium) run|in the (?:short|long) term|over time|as a result|"
    r"at the same time|on average|in this case|in practice|as well|in addition|similarly|likewise|"
    r"moreover|furthermore|consequently|in most cases|in many cases|in some cases)\b\s*,?",
    re.IGNORECASE)
_OR_MORE = re.compile(r"\b(?:one|two|three|four|five|\d+)\s+or\s+more\b", re.IGNORECASE)
_DASHES = re.compile(r"\s*[—–]\s*|\s+-\s+")


def clean_sentence(sentence: str) -> str:
    """A matching copy of a sentence: parentheticals, quote marks and stock adverbials removed.

    Concept names come from this copy (a name need not be verbatim); evidence always comes from
    the original sentence.
    """
    s = _PARENTHETICAL.sub("", sentence)
    s = _QUOTES.sub("", s)
    s = _ADVERBIALS.sub(" ", s)
    s = _DASHES.sub(" ; ", s)
    s = _OR_MORE.sub("multiple", s)  # "two or more people" is one quantity, not a coordination
    return re.sub(r"\s+", " ", s).strip()


def _tokens(segment: str) -> list[str]:
    # A trailing period is sentence punctuation unless the word is a dotted initialism ("U.S.").
    return [t if _DOTTED.fullmatch(t) else t.rstrip(".") for t in segment.split() if t.strip(".")]


def _is_adverb(word: str) -> bool:
    w = word.casefold()
    return w in ADVERBS or (w.endswith("ly") and len(w) > 5 and w not in _LY_WORDS)


def _stops(word: str) -> bool:
    """Whether a word cannot sit inside a noun phrase (conjunctions are decided by the caller)."""
    w = word.casefold()
    return (w == "but" or w in PRONOUNS or w in SUBORDINATORS or w in AUXILIARIES or w in VERBS
            or w in OTHER_PREPOSITIONS or _is_adverb(w) or not _TOKEN.match(word))


def concept_name(words: list[str], max_words: int = 6) -> str | None:
    """A concept name from phrase words, or None when the phrase is junk.

    Leading determiners and edge adverbs ("also", "often") are trimmed; acronyms and words with
    inner capitals keep their case, other words are lowercased. Rejected: empty or longer than
    ``max_words``; starting or ending with a function word; containing a pronoun, auxiliary,
    negation or "-ly" adverb; a vague head ("way", "example") or a vague single word ("result",
    "two"); a leading number; an inner article that opens another phrase; a participle opening a
    prepositional phrase ("based on factors") or closing the phrase ("institution formed").
    """
    ws = list(words)
    # A function word right after an article is a noun modifier ("a while loop", "the if statement").
    shielded = {i for i in range(1, len(ws))
                if ws[i - 1].casefold() in ARTICLES and ws[i].casefold() not in AUXILIARIES | PRONOUNS}
    while ws and (ws[0].casefold() in DETERMINERS | DEMONSTRATIVES or ws[0].casefold() in ADVERBS):
        ws.pop(0)
        shielded = {i - 1 for i in shielded if i > 0}
    while ws and ws[-1].casefold() in ADVERBS:
        ws.pop()
    if not ws or len(ws) > max_words or any(_is_adverb(w) for w in ws):
        return None  # too long, or an adverb inside ("widely used inputs")
    low = [w.casefold() for w in ws]
    edge = NP_PREPOSITIONS | OTHER_PREPOSITIONS | CONJUNCTIONS
    if low[0] in edge or low[0] in _OPENING_JUNK or low[-1] in edge or low[-1] in NON_HEADS or low[-1] in VAGUE_HEADS:
        return None
    if len(low) == 1 and (low[0] in VAGUE_ALONE or (len(low[0]) > 5 and low[0].endswith(_ADJECTIVE_ENDINGS))):
        return None  # "the result", or a lone adjective/participle ("is a simplified, ...", "problematic")
    determiner_use = {i for i, w in enumerate(low[:-1]) if w in DEMONSTRATIVES}  # "graph of this relationship"
    if any((w in PRONOUNS or w in AUXILIARIES or w in SUBORDINATORS) and i not in shielded | determiner_use
           for i, w in enumerate(low)):
        return None
    if any(not _TOKEN.match(w) for w in ws) or low[0][0].isdigit():
        return None
    inner = DETERMINERS | DEMONSTRATIVES
    if any(w in inner and low[i - 1] not in NP_PREPOSITIONS | inner for i, w in enumerate(low) if i > 0):
        return None  # "acquiring both a travel agency": an inner article opens another phrase
    if low[-1].endswith(("’s", "'s", "’", "'")) or all(len(w) < 2 for w in low):
        return None
    if len(low) > 1 and len(low[-1]) > 5 and low[-1].endswith("ed") and low[-1] not in _ED_NOUN_ENDS:
        return None  # "depository institution formed [specifically to ...]": a clause follows
    if len(low) > 1 and ((low[0] in _QUANTITY_HEADS and low[1] == "of")
                         or (low[0].endswith("ed") and low[1] in NP_PREPOSITIONS | OTHER_PREPOSITIONS)):
        return None
    return " ".join(w if _keeps_case(w) else w.casefold() for w in ws)


def _keeps_case(word: str) -> bool:
    """Acronyms and inner capitals keep their case ("GDP", "M1", "DataFrame"); other words are lowercased."""
    return any(c.isupper() for c in word[1:]) or (word[0].isupper() and any(c.isdigit() for c in word))


def _trim_conjunction(ws: list[str]) -> list[str]:
    """Keep a coordination only in short phrases ("goods and services"), else give no phrase."""
    while ws and ws[0].casefold() in CONJUNCTIONS:
        ws = ws[1:]
    while ws and ws[-1].casefold() in CONJUNCTIONS:
        ws = ws[:-1]
    idx = [i for i, w in enumerate(ws) if w.casefold() in CONJUNCTIONS]
    content = [w for w in ws if w.casefold() not in DETERMINERS | _COMPARATIVES]
    if not idx or len(content) <= 4:
        return ws
    # Cutting a long coordination leaves fragments as often as not ("greater human [and physical
    # capital]", "relationship between price [and cost]"): no phrase at all.
    return []


def left_words(before: str, tight: bool = False) -> tuple[list[str], str]:
    """Words of the noun phrase that ends where ``before`` ends, and what stopped the walk.

    The stop is a word, ``"<det>"`` (the phrase opened with a determiner), ``","`` (clause
    punctuation) or ``"^"`` (the sentence start). ``tight`` stops at every preposition (the
    nearest noun phrase: "firms" in "a choice for firms such as ...").
    """
    parts = _SEGMENT_END.split(before)
    toks = _tokens(parts[-1])
    out: list[str] = []
    i = len(toks) - 1
    while i >= 0:
        w, lw = toks[i], toks[i].casefold()
        prev = toks[i - 1] if i > 0 else None
        if lw in DETERMINERS or (lw in DEMONSTRATIVES and out):
            out.insert(0, w)
            while i > 0 and toks[i - 1].casefold() in DETERMINERS:  # "the most", "all the"
                i -= 1
                out.insert(0, toks[i])
            prev = toks[i - 1] if i > 0 else None
            if prev is not None and prev.casefold() in NP_PREPOSITIONS:
                if tight:
                    return out, prev.casefold()
                out.insert(0, prev)
                i -= 2
                continue
            lp = prev.casefold() if prev is not None else ""
            if (lp in OTHER_PREPOSITIONS or lp in VERBS or lp in _CONDITIONAL
                    or (len(lp) > 4 and lp.endswith(("ing", "ed")))):
                return out, lp  # "jobs to another country", "riding a Harley": the object of a clause
            return _trim_conjunction(out), "<det>"
        # "a while loop", "a price increase": a word after an article, or an ambiguous noun/verb
        # right before the trigger, belongs to the noun phrase.
        after_article = prev is not None and prev.casefold() in ARTICLES and lw not in AUXILIARIES | PRONOUNS
        nounish = after_article or (lw in AMBIGUOUS and not out)
        if (tight and lw in NP_PREPOSITIONS) or (_stops(w) and not nounish and lw not in ("and", "or", "nor")):
            if out and out[0].casefold() in CONJUNCTIONS:
                return [], lw  # "checks and balances" cut at "checks": a fragment
            return _trim_conjunction(out), lw
        out.insert(0, w)
        i -= 1
    if out and out[0].casefold() in CONJUNCTIONS:
        return [], ","  # "a minister, or consul is ...": the last item of a list, not the subject
    return _trim_conjunction(out), ("," if len(parts) > 1 else "^")


def right_words(after: str, first_may_be_verb: bool = False) -> tuple[list[str], str]:
    """Words of the noun phrase that starts where ``after`` starts, and the word that stopped it.

    The stop is ``","`` or ``"."`` when the phrase ran to the end of its clause.
    """
    segment = _SEGMENT_END.split(after, maxsplit=1)[0]
    seg_end = "," if len(segment) < len(after) else "."
    toks = _tokens(segment)
    out: list[str] = []
    for i, w in enumerate(toks):
        lw = w.casefold()
        prev = toks[i - 1].casefold() if i > 0 else None
        if i == 0 and lw in CONJUNCTIONS:
            return [], lw  # "measures and interprets X": the trigger word is one of two verbs
        if i == 0 and first_may_be_verb and _TOKEN.match(w) and lw not in PRONOUNS | AUXILIARIES:
            out.append(w)
            continue
        demonstrative = lw in ("this", "these", "those") and i + 1 < len(toks) and not _stops(toks[i + 1])
        if (lw in DETERMINERS and lw not in PRONOUNS) or demonstrative:
            out.append(w)
            continue
        inside = (bool(out) and prev not in CONJUNCTIONS) or i == 0
        nounish = (prev in ARTICLES and lw not in AUXILIARIES | PRONOUNS) or (lw in AMBIGUOUS and inside)
        if _stops(w) and not nounish and lw not in ("and", "or", "nor"):
            return _trim_conjunction(out), lw
        out.append(w)
    return _trim_conjunction(out), seg_end


def right_items(after: str) -> list[list[str]]:
    """The items of an enumeration "A, B, and C" that starts where ``after`` starts.

    The list ends at ``;``, ``:``, after the item that follows "and"/"or", at a relative clause
    (its item is kept: "compromises and concessions that lead to ..."), or at an item that does
    not run to its separator (left out). A junk closing item ("and a variety of other texts") is
    left out; any other junk item means the split was wrong ("data on the origin of the
    population and labor force"), and the list gives nothing.
    """
    span = re.split(r"[;:!?]", after, maxsplit=1)[0]
    parts = re.split(r"((?<!\d),(?!\d)|\band\b|\bor\b|\bas well as\b)", span)
    items: list[list[str]] = []
    closed = False
    for text, sep in zip(parts[0::2], [None, *parts[1::2]], strict=True):
        if not text.strip():
            continue
        if closed:
            break
        last = sep is not None and sep.strip() in ("and", "or", "as well as")
        ws, stop = right_words(text.strip())
        # A relative clause or, after the closing "and", the main verb ends the list with this item.
        relative = stop in ("that", "which", "who") or (last and stop in AUXILIARIES - NEGATIONS)
        if stop not in (",", ".") and not relative:
            if items:
                break
            return []
        if ws and concept_name(ws) is None:
            if last and items:
                break
            return []
        if ws:
            items.append(ws)
        closed = last or relative
    return items


# --------------------------------------------------------------------------------------------
# Relation patterns
# --------------------------------------------------------------------------------------------

ObjectKind = Literal["np", "items", "verb"]

# Modal/aspect words allowed between a subject and its verb ("can lead to", "has increased",
# "tends to reduce"); a negation anywhere in them voids the triple.
_VERB_COMPLEX = re.compile(
    r"(?:\s+(?:can|could|will|would|may|might|must|should|shall|has|have|had|does|do|did|not|never|"
    r"cannot|also|often|usually|generally|typically|always|sometimes|eventually|ultimately|directly|"
    r"indirectly|then|thus|therefore|still|only|further|largely|mainly|tends? to|tended to|"
    r"(?:is|are) likely to|helps? to|helps?|in part))+$", re.IGNORECASE)


@dataclass(frozen=True)
class Pattern:
    """One trigger: ``left <trigger> right`` states ``subject <relation> object``.

    ``swap`` makes the right phrase the subject ("X is called Y": Y is the term). ``obj`` says how
    the right side is read: one noun phrase, an enumeration (one triple per item) or a verb phrase
    ("is used to measure ..."). ``max_words`` lets a definition's defining phrase run longer.
    """

    relation: str
    trigger: re.Pattern[str]
    swap: bool = False
    obj: ObjectKind = "np"
    max_words: int = 6


def _p(relation: str, regex: str, swap: bool = False, obj: ObjectKind = "np", max_words: int = 6) -> Pattern:
    return Pattern(relation, re.compile(regex, re.IGNORECASE), swap, obj, max_words)


_BE = r"(?:is|are|was|were)"
_ADJ = (r"(?:(?:good|classic|common|typical|prime|clear|famous|simple|key|important|essential|integral|"
        r"major|central|critical|basic|main|fundamental|core|vital|necessary|crucial)\s+)?")

# Order matters: a more specific trigger claims its words before a general one ("is an example
# of" before "is a", "is part of" before "is a").
PATTERNS: tuple[Pattern, ...] = (
    _p("example_of", rf"\b{_BE}\s+(?:(?:a|an|another|one|other)\s+)?{_ADJ}examples?\s+of\b"),
    _p("is_a", rf"\b{_BE}\s+(?:(?:a|an|one)\s+)?{_ADJ}(?:type|kind|form|sort|category|class|subset)s?\s+of\b"),
    _p("part_of", rf"\b{_BE}\s+(?:(?:a|an|one)\s+)?{_ADJ}(?:parts?|components?|elements?|stage|phase)\s+of\b"),
    _p("measured_by", rf"\b{_BE}\s+(?:(?:a|an|the)\s+)?(?:common\s+|key\s+|main\s+)?measures?\s+of\b", swap=True),
    _p("defined_as", rf"\b{_BE}\s+defined\s+as\b", max_words=8),
    _p("defined_as", rf"\b{_BE}\s+(?:called|termed|referred\s+to\s+as|known\s+as)\b", swap=True, max_words=8),
    _p("defined_as", r",\s+(?:also\s+)?(?:known\s+as|called)\b"),
    # Only "refers to": "may refer to the same object" is a pointer, not a definition.
    _p("defined_as", r"\brefers\s+to\b", max_words=8),
    _p("is_a", rf"\b{_BE}\s+(?:a|an)\s+"),
    _p("has_part", r"\b(?:consists?|consisted)\s+of\b|\b(?:is|are)\s+(?:made\s+up|composed|comprised)\s+of\b|"
                   r"\b(?:comprises?|includes?|included|contains?|contained)\b", obj="items"),
    _p("causes", rf"\b{_BE}\s+caused\s+by\b|\b(?:results?|resulted)\s+from\b|\b{_BE}\s+(?:a|the)\s+result\s+of\b",
       swap=True),
    _p("causes", r"\b(?:causes?|caused|triggers?|triggered)\b|\b(?:leads?|led)\s+to\b|\b(?:results?|resulted)\s+in\b"
                 r"|\b(?:gives?|gave)\s+rise\s+to\b|\b(?:brings?|brought)\s+about\b"),
    _p("increases", r"\b(?:increases?|increased|raises?|raised|boosts?|boosted|enhances?|enhanced|improves?|"
                    r"improved)\b(?!\s+(?:its|their|his|her|our|your)\b)"),
    _p("decreases", r"\b(?:reduces?|reduced|decreases?|decreased|lowers|lowered|diminish(?:es|ed)?)\b"
                    r"|(?<=\bwill )lower\b|(?<=\bcan )lower\b|(?<=\bto )lower\b"),
    _p("prevents", r"\b(?:prevents?|prevented|inhibits?|inhibited|hinders?|hindered)\b"),
    _p("requires", r"\b(?:requires?)\b|\b(?:depends?|depended|relies|rely|relied)\s+(?:up)?on\b"
                   r"|\b(?:is|are)\s+dependent\s+on\b"),
    _p("enables", r"\b(?:enables?|enabled|allows?|allowed|facilitates?|facilitated)\b"),
    # Not "X measures Y": its subject is an agent ("the government measures poverty") as often as
    # an instrument ("the CPI measures inflation").
    _p("measured_by", rf"\b{_BE}\s+(?:measured|quantified)\s+(?:by|in|with|using)\b"),
    _p("used_for", rf"\b(?:{_BE}|be|been)\s+used\s+to\b", obj="verb"),
    _p("used_for", rf"\b(?:{_BE}|be|been)\s+used\s+for\b"),
    _p("precedes", rf"\b{_BE}\s+(?:followed|succeeded)\s+by\b|\b(?:precedes?|preceded)\b|\b(?:comes?|came)\s+before\b"),
    # Not "X follows Y": in textbook prose it is "follows a pattern", "follows the rules".
    _p("precedes", rf"\b{_BE}\s+preceded\s+by\b|\b(?:comes?|came)\s+after\b", swap=True),
    _p("contrasts_with", rf"\b(?:differs?|differed)\s+from\b|\b{_BE}\s+different\s+from\b"),
)

# Noun-attached triggers: the phrase before them is the nearest noun phrase (a tight walk).
VERSUS = re.compile(r"\s+(?:versus|vs\.?)\s+", re.IGNORECASE)
SUCH_AS = re.compile(r",?\s+such\s+as\s+", re.IGNORECASE)
NAMED_KIND = re.compile(
    r"\b(?:a|an)\s+(?P<n>[\w-]+(?:\s+[\w-]+){0,2}?)\s+(?:known\s+as|called|termed)\s+", re.IGNORECASE)
EXAMPLE_LISTS = re.compile(
    r"\b(?:some\s+|other\s+|common\s+|typical\s+)?examples\s+of\s+(?P<y>[^,;:]+?)(?:,[^,;:]*,)?\s+"
    r"(?:include|are|would\s+be|might\s+be)\s+", re.IGNORECASE)
# Lead-in clauses "<marker> Y, X <verb> ...": X is the main clause's subject. ("After Y, X ..."
# was tried for precedes and dropped: its Y is an event clause far more often than a concept.)
LEAD_INS: tuple[tuple[re.Pattern[str], str, bool], ...] = (
    (re.compile(r"\b(?:unlike|in\s+contrast\s+(?:to|with)|as\s+opposed\s+to)\s+", re.IGNORECASE),
     "contrasts_with", False),
)
# "X causes Y to rise": the sign of the effect is in the infinitive.
_TO_UP = re.compile(r"^\s*to\s+(?:rise|increase|grow|go\s+up|climb|expand)\b", re.IGNORECASE)
_TO_DOWN = re.compile(r"^\s*to\s+(?:fall|decrease|decline|drop|go\s+down|shrink|contract)\b", re.IGNORECASE)
# "an increase in X", "higher X", "a tax cut": a signed quantity.
_UP = re.compile(r"^(?:(?:an?\s+)?(?:increases?|rises?|growth|expansion)\s+(?:in|of)\s+|(?:higher|more|greater|"
                 r"larger|rising|increased|increasing)\s+)(?P<q>.+)$|^(?P<p>.+?)\s+(?:increases?|rises?|"
                 r"hikes?)$", re.IGNORECASE)
_DOWN = re.compile(r"^(?:(?:an?\s+)?(?:decreases?|declines?|falls?|drops?|reductions?|contractions?)\s+(?:in|of)"
                   r"\s+|(?:lower|less|fewer|smaller|falling|reduced|decreased|decreasing)\s+)(?P<q>.+)$|"
                   r"^(?P<p>.+?)\s+(?:decreases?|declines?|cuts?|reductions?|drops?)$", re.IGNORECASE)


def _signed(name: str) -> tuple[int, str]:
    for sign, rx in ((1, _UP), (-1, _DOWN)):
        m = rx.match(name)
        q = concept_name((m.group("q") or m.group("p")).split()) if m else None
        if q:
            return sign, q
    return 0, name


def _directional(subj: str, obj: str, after_obj: str) -> RawTriple:
    """A "causes" triple with signed quantities becomes increases/decreases.

    "an increase in X leads to higher Y" is (X, increases, Y); "a decrease in X causes an increase
    in Y" is (X, decreases, Y); "X causes Y to rise" is (X, increases, Y).
    """
    if _TO_UP.match(after_obj):
        return subj, "increases", obj
    if _TO_DOWN.match(after_obj):
        return subj, "decreases", obj
    s_sign, s_q = _signed(subj)
    o_sign, o_q = _signed(obj)
    if o_sign == 0 or s_q == o_q:
        return subj, "causes", obj
    return s_q, ("increases" if (s_sign or 1) == o_sign else "decreases"), o_q


def subject_words(before: str, attached: bool = False, comma: bool = False) -> list[str] | None:
    """The subject words before a trigger, or None when there is no clean subject.

    For a verb trigger (``attached`` false) the subject must not be negated ("does not cause"),
    and a walk that stops at a verb, a preposition or an auxiliary has found the object of
    another clause, not a subject. A noun-attached trigger ("such as") takes the nearest noun
    phrase, dropping a verb that opens it ("check magazines such as ..."); ``comma`` says a comma
    separates it from the trigger, which makes a prepositional attachment unclear.
    """
    before = before.rstrip()
    vc = _VERB_COMPLEX.search(before)
    if vc and not attached:
        if re.search(r"\b(?:not|never|cannot)\b", vc.group(), re.IGNORECASE):
            return None
        before = before[:vc.start()]
    if re.search(r"\b(?:not|never|no\s+longer|and|or)\s*$", before, re.IGNORECASE):
        return None  # negated, or "X and increased Y" where the trigger word is an adjective
    ws, stop = left_words(before, tight=attached)
    if not ws and stop in ("which", "that", "who"):
        # "X, which consists of Y" / "a structure that consists of Y": the relative pronoun
        # stands for the phrase before it ("Note that, ..." has no such phrase).
        after_comma = re.search(r",\s*(?:which|who)\s*$", before, re.IGNORECASE) is not None
        head = re.sub(r"[\s,]*\b(?:which|that|who)\s*$", "", before, flags=re.IGNORECASE)
        ws, stop = left_words(head)
        if stop != "<det>" and not after_comma:
            return None
    if stop in _CONDITIONAL:
        return None  # "If the task is a writing assignment": not an assertion
    if attached:
        if comma and stop in NP_PREPOSITIONS | OTHER_PREPOSITIONS:
            return None  # "skills important in many jobs, such as teamwork": attachment unclear
        if stop in AUXILIARIES - MODALS:
            return None  # "parts are custom-made, such as ...": a predicate, not a category
        # "should check magazines such as", "to withstand disasters such as", "when they enlist
        # teachers such as", "chapters that explore indicators such as": drop the verb.
        verb_first = stop in MODALS or (len(ws) > 1 and (stop == "to" or stop in PRONOUNS))
        return ws[1:] if verb_first and ws else ws
    # Anything else (a verb, a preposition, an auxiliary, a number) means the words are the
    # object of another clause ("jobs to another country is called ...").
    return ws if stop in _CLEAN_STOPS or stop in _CLAUSE_OPENERS or stop in PRONOUNS else None


def _is_plural(name: str) -> bool:
    """Whether the head of a phrase is plural ("modes of exercise": "modes"), by its spelling."""
    words = name.casefold().split(" ")
    cut = [i for i, w in enumerate(words) if w in NP_PREPOSITIONS]
    last = words[cut[0] - 1] if cut and cut[0] > 0 else words[-1]
    if last.endswith(("ics", "news", "series", "species", "means")):
        return False  # "economics is ...": singular
    return last.endswith("s") and not last.endswith(("ss", "us", "is", "’s", "'s"))


def _triples_for(pattern: Pattern, clean: str, m: re.Match[str]) -> Iterator[RawTriple]:
    before, after = clean[:m.start()], clean[m.end():]
    left = subject_words(before)
    lname = concept_name(left, pattern.max_words if pattern.swap else 6) if left else None
    if lname is None:
        return
    if re.match(r"(?:is|was)\b", m.group(), re.IGNORECASE) and _is_plural(lname) and not pattern.swap:
        return  # "your emotional sides is an important part of ...": the subject is elsewhere
    if pattern.obj == "items":
        # "Costs include rent and wages" lists examples of a category; "the mix includes price"
        # lists parts of a whole. A plural subject of "include" reads as a category.
        example = m.group().casefold().startswith("includ") and _is_plural(lname)
        for item in right_items(after):
            iname = concept_name(item)
            if iname:
                yield (iname, "example_of", lname) if example else (lname, pattern.relation, iname)
        return
    ws, stop = right_words(after, first_may_be_verb=pattern.obj == "verb")
    if (pattern.obj == "verb" and len(ws) < 2) or stop in ("one", "ones"):
        return  # "are used to define what ...", "is a popular one": no concept on the right
    rname = concept_name(ws, 6 if pattern.swap else pattern.max_words)
    if rname is None:
        return
    joined, tail = " ".join(ws), after.lstrip()
    rest = tail[len(joined):] if tail.startswith(joined) else ""
    if pattern.swap:
        yield rname, pattern.relation, lname
    elif pattern.relation == "causes":
        triple = _directional(lname, rname, rest)
        if stop != "to" or triple[1] != "causes":  # "causes X to be Y" states nothing about X
            yield triple
    elif pattern.relation == "defined_as" and stop not in (",", "."):
        return  # "refers to the total amount that ...": the definition was cut short
    elif not ((stop == "to" and pattern.relation in ("enables", "requires", "prevents", "increases", "decreases",
                                                    "contrasts_with"))
              or (stop == "from" and pattern.relation == "prevents")):
        # "allows firms to raise prices": what is enabled is the clause, not "firms"
        yield _signed_subject(lname, pattern.relation, rname)


def _signed_subject(subj: str, relation: str, obj: str) -> RawTriple:
    """ "a fall in price will decrease the quantity supplied" is (price, increases, quantity supplied)."""
    sign, quantity = _signed(subj)
    if relation not in ("increases", "decreases") or sign == 0:
        return subj, relation, obj
    flipped = {"increases": "decreases", "decreases": "increases"}
    return quantity, relation if sign > 0 else flipped[relation], obj


def _attached_triples(clean: str) -> Iterator[tuple[int, int, RawTriple]]:
    for m in NAMED_KIND.finditer(clean):
        # "a phenomenon known as crowding out": crowding out is a phenomenon.
        kind = concept_name(m.group("n").split())
        ys, _ = right_words(clean[m.end():])
        name = concept_name(ys)
        if kind and name:
            yield m.start(), m.end(), (name, "is_a", kind)
    for m in EXAMPLE_LISTS.finditer(clean):
        category = concept_name(m.group("y").split())
        for item in right_items(clean[m.end():]) if category else []:
            iname = concept_name(item)
            if iname and category:
                yield m.start(), m.end(), (iname, "example_of", category)
    for m in SUCH_AS.finditer(clean):
        cat_words = subject_words(clean[:m.start()], attached=True, comma=m.group().startswith(","))
        category = concept_name(cat_words) if cat_words else None
        for item in right_items(clean[m.end():]) if category else []:
            iname = concept_name(item)
            if iname and category:
                yield m.start(), m.end(), (iname, "example_of", category)
    for m in VERSUS.finditer(clean):
        xs = subject_words(clean[:m.start()], attached=True)
        ys, _ = right_words(clean[m.end():])
        x, y = concept_name(xs) if xs else None, concept_name(ys)
        if x and y:
            yield m.start(), m.end(), (x, "contrasts_with", y)


def _lead_in_triples(clean: str) -> Iterator[tuple[int, int, RawTriple]]:
    for rx, relation, reverse in LEAD_INS:
        for m in rx.finditer(clean):
            after = clean[m.end():]
            ys, stop = right_words(after)
            yname = concept_name(ys)
            # right_words reports "," for any clause end (";", ":", a dash turned into ";" by
            # clean_sentence); the lead-in shape needs the boundary to be a real comma, and the
            # main clause starts right after that comma, not after some later one.
            boundary = _SEGMENT_END.search(after)
            if yname is None or stop != "," or boundary is None or boundary.group() != ",":
                continue
            xs = subject_words(clean[:m.start()].rstrip(" ,"), attached=True) if relation == "contrasts_with" else None
            xname = concept_name(xs) if xs else None
            if xname is None:
                xs, xstop = right_words(after[boundary.end():].strip())
                # The main clause's subject must end at its verb, not run off the end.
                xname = concept_name(xs) if xstop in AUXILIARIES or xstop in VERBS else None
            if xname is not None:
                yield m.start(), m.end(), (yname, relation, xname) if reverse else (xname, relation, yname)


_SKIP_SENTENCE = re.compile(r"^(?:suppose|assume|imagine|let's|let us|consider|think about|ask yourself)\b",
                            re.IGNORECASE)


def sentence_triples(sentence: str) -> list[RawTriple]:
    """All (subject, relation, object) triples that one sentence states, in the order they occur.

    Questions and hypotheticals ("Suppose ...") state nothing. Each trigger's words are claimed by
    the first pattern that matches them, so "is an example of" never also reads as "is a".
    """
    if sentence.rstrip().endswith("?") or len(sentence) > 1000:
        return []
    clean = clean_sentence(sentence)
    if _SKIP_SENTENCE.match(clean):
        return []
    found: list[tuple[int, int, RawTriple]] = []
    sources: tuple[Callable[[str], Iterator[tuple[int, int, RawTriple]]], ...] = (
        _attached_triples, _lead_in_triples)
    for source in sources:
        found.extend(source(clean))
    claimed = [(s, e) for s, e, _ in found]
    for pattern in PATTERNS:
        for m in pattern.trigger.finditer(clean):
            if any(m.start() < e and s < m.end() for s, e in claimed):
                continue
            claimed.append((m.start(), m.end()))
            found.extend((m.start(), m.end(), t) for t in _triples_for(pattern, clean, m))
    found.sort(key=lambda f: (f[0], f[1]))
    return [t for _, _, t in found if t[0].casefold() != t[2].casefold()]
