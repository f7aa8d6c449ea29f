"""Example families: deterministic templates over one L2 relation and its grounding chunk.

Every example is a chat (``messages``: user, assistant), the format TRL's ``SFTTrainer`` takes. The
wording varies by a hash of the relation id and the seed (several phrasings per family) so that a
model does not learn one template, yet the same graph and seed always give the same examples.
Answers state the relation with the vocabulary's verb phrase; grounded examples quote the evidence
span verbatim from the chunk (the CORE "Contextualized" standard in method.md).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from proda.pipelines.tester.question import question_text
from proda.schema.vocabulary import Vocabulary

TEMPLATE_VERSION = "build-v1"
LETTERS = "ABCD"
DEFINING = ("is_a", "defined_as")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class RelationFacts:
    """One relation as the Builder reads it (a row of ``build_relations``)."""

    id: str
    type: str
    subject_id: str
    subject: str
    object_id: str
    object: str
    discipline: str
    evidence: str = ""
    chunk_id: str = ""
    chunk_text: str = ""
    title: str = ""


@dataclass(frozen=True)
class Example:
    """One training example before it is written; ``family`` says which template made it.

    ``user_span`` and ``answer_span`` are the ``(start, end)`` of the part of each turn that a
    paraphrase may reword (None: the whole turn); the rest is kept verbatim: a grounded example's
    passage and quoted evidence, a recall example's option list and answer letter. After a paraphrase
    ``paraphrased_by`` names the backend and model and ``template`` keeps the template's two turns.
    """

    family: str
    user: str
    assistant: str
    relation: RelationFacts
    user_span: tuple[int, int] | None = None
    answer_span: tuple[int, int] | None = None
    distractors: tuple[str, ...] = ()
    paraphrased_by: str | None = None
    template: tuple[str, str] | None = None

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.user}, {"role": "assistant", "content": self.assistant}]

    @property
    def template_messages(self) -> list[dict[str, str]] | None:
        """The template's turns when this example was paraphrased, else None."""
        if self.template is None:
            return None
        return [{"role": "user", "content": self.template[0]}, {"role": "assistant", "content": self.template[1]}]


def pick_variant(options: Sequence[str], *key: object) -> str:
    """One of ``options``, chosen by a hash of ``key``: varied phrasing that is stable across runs."""
    digest = hashlib.sha256("\x1f".join(map(str, key)).encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def capitalise(text: str) -> str:
    """``text`` with its first letter upper-cased (concept names stay as written otherwise)."""
    return text[:1].upper() + text[1:]


def field_of(discipline: str) -> str:
    """The discipline as prose: ``computer_science`` -> ``computer science``."""
    return discipline.replace("_", " ")


def passage(chunk_text: str, evidence: str, max_chars: int) -> str:
    """The sentences of ``chunk_text`` around ``evidence``, at most ``max_chars`` long (whole sentences
    where they fit, so the quoted evidence is never cut)."""
    text = " ".join(chunk_text.split())
    if len(text) <= max_chars:
        return text
    at = text.find(" ".join(evidence.split())) if evidence else -1
    sentences = _SENTENCE_END.split(text)
    spans, pos = [], 0
    for s in sentences:
        start = text.find(s, pos)
        spans.append((start, start + len(s)))
        pos = start + len(s)
    hit = next((i for i, (a, b) in enumerate(spans) if a <= max(at, 0) < b), 0)
    lo = hi = hit
    while True:  # grow around the hit sentence while the passage fits
        grew = False
        if hi + 1 < len(spans) and spans[hi + 1][1] - spans[lo][0] <= max_chars:
            hi += 1
            grew = True
        if lo > 0 and spans[hi][1] - spans[lo - 1][0] <= max_chars:
            lo -= 1
            grew = True
        if not grew:
            break
    out = text[spans[lo][0]:spans[hi][1]]
    return out if len(out) <= max_chars else out[: max_chars - 1].rstrip() + "…"


def examples_for_relation(r: RelationFacts, vocab: Vocabulary, *, families: Sequence[str], seed: int,
                          distractors: Sequence[str], context_chars: int) -> list[Example]:
    """Every example ``families`` allow for relation ``r``.

    ``distractors`` are concept names of the same discipline that ``r.subject`` is *not* related to by
    ``r.type`` (the caller checks the graph); a recall example needs three of them.
    """
    phrase = vocab.get(r.type).phrase
    field = field_of(r.discipline)
    fact = f"{capitalise(r.subject)} {phrase} {r.object}."
    out: list[Example] = []
    if "definition" in families and r.type in DEFINING:
        q = pick_variant((f"In {field}, what is {r.subject}?", f"What is meant by {r.subject} in {field}?",
                   f"Define {r.subject} ({field})."), r.id, seed, "definition")
        out.append(Example("definition", q, fact, r))
    if "statement" in families:
        q = pick_variant((f"In {field}, how is {r.subject} related to {r.object}?",
                   f"What is the relationship between {r.subject} and {r.object} in {field}?",
                   f"State how {r.subject} relates to {r.object} ({field})."), r.id, seed, "statement")
        out.append(Example("statement", q, fact, r))
    if "reverse" in families:
        q = pick_variant((f"In {field}, what {phrase} {r.object}?",
                          f"Name something that {phrase} {r.object} ({field}).",
                          f"Which {field} concept {phrase} {r.object}?"), r.id, seed, "reverse")
        out.append(Example("reverse", q, fact, r))
    if "recall" in families and len(distractors) >= 3:
        options = [r.object, *distractors[:3]]
        order = sorted(range(4), key=lambda i: hashlib.sha256(f"{r.id}\x1f{seed}\x1f{i}".encode()).digest())
        shown = [options[i] for i in order]
        correct = LETTERS[order.index(0)]
        listing = "\n".join(f"{LETTERS[i]}. {name}" for i, name in enumerate(shown))
        stem = f"In {field}, which of these does {r.subject} {_infinitive(phrase)}?"
        q = f"{stem}\n{listing}\nAnswer with the letter and the concept."
        head = f"{correct}. {r.object} — "
        out.append(Example("recall", q, head + fact, r, user_span=(0, len(stem)),
                           answer_span=(len(head), len(head) + len(fact)), distractors=tuple(distractors[:3])))
    if "question" in families:
        # the benchmark's own wording of a one-step chain, answered with the concept's name: the form the
        # evaluation scores (an item from a held-out chain of the same relation is dropped by the Builder)
        out.append(Example("question", question_text(r.discipline, r.subject, [r.type], vocab), r.object, r))
    if "grounded" in families and r.evidence and r.chunk_text:
        where = f" from “{r.title}”" if r.title else ""
        text = passage(r.chunk_text, r.evidence, context_chars)
        head = f"Passage{where}:\n{text}\n\n"
        q = f"{head}According to the passage, how is {r.subject} related to {r.object}?"
        out.append(Example("grounded", q, f"{fact} The passage says: “{r.evidence.strip()}”", r,
                           user_span=(len(head), len(q)), answer_span=(0, len(fact))))
    return out


def _infinitive(phrase: str) -> str:
    """'causes' -> 'cause', 'is part of' -> 'belong to as a part'... kept simple: 3rd person -s dropped,
    copular phrases reworded so the question stays grammatical."""
    if phrase.startswith("is "):
        return "relate to (" + phrase + ")"
    if phrase.startswith("has "):
        return "have " + phrase[4:]
    first, _, rest = phrase.partition(" ")
    if first.endswith(("ches", "shes", "sses", "xes")):
        first = first[:-2]
    elif first.endswith("s"):
        first = first[:-1]
    return f"{first} {rest}".strip()
