"""Patch templates: ``f_refine`` (knowledge reinforcement) and ``f_cot`` (chain-of-thought scaffolds).

* **f_refine**, for a concept gap: chat examples about each weak relation and weak concept: the
  hop asked in the benchmark's own wording and answered with the concept's name, and, in
  several phrasings (chosen by a hash of the source and the seed, so the same graph gives the same
  patches): the relation grounded in a passage of its chunk with the evidence quoted (the CORE
  "Contextualized" standard), fill-in statements from both ends, a true statement to confirm, the
  contrary statement to reject (only for types whose inverse is a contrary, and only when the graph
  does not state it), and a summary of what the graph says about each weak concept.
* **f_cot**, for a reasoning deficit: a train-split chain asked as the benchmark asks and answered
  with its end concept, and walked one hop at a time, naming each
  intermediate concept, in the Tester's X1..Xn wording or as a path to follow; when the model fell for
  a TRUNC or INVREL distractor, the scaffold also says why stopping early or reading a relation
  backwards is wrong.

Wording differs from the Builder's families and from the probes, and every example's instance hash
is checked against the benchmark before it is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from proda.pipelines.build.templates import RelationFacts, capitalise, field_of, passage, pick_variant
from proda.pipelines.tester.chains import ChainView
from proda.pipelines.tester.model import instance_hash
from proda.pipelines.tester.question import question_text
from proda.schema.vocabulary import Vocabulary

TEMPLATE_VERSION = "patch-v1"
PatchKind = Literal["f_refine", "f_cot", "replay"]
# types whose declared inverse is a contrary (the statement with the inverse is false when the original
# holds); requires/enables are converses, not contraries, so "X enables Y" is not refuted by "X requires Y"
CONTRARY = frozenset({"causes", "prevents", "increases", "decreases", "precedes", "follows", "part_of", "has_part"})


@dataclass(frozen=True)
class PatchExample:
    """One patch before it is written, with everything it links to."""

    kind: PatchKind
    family: str
    messages: tuple[tuple[str, str], ...]  # (role, content)
    source: str  # the relation, concept, chain or training example it was made from
    teaches: tuple[str, ...] = ()
    chains: tuple[str, ...] = ()
    chunks: tuple[str, ...] = ()
    replays: tuple[str, ...] = ()

    @property
    def chat(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]

    @property
    def qa_hash(self) -> str:
        """Instance hash of the (last user turn, last assistant turn), as the Builder computes it."""
        user = next(c for r, c in reversed(self.messages) if r == "user")
        return instance_hash(user, self.messages[-1][1])


def chat(kind: PatchKind, family: str, user: str, assistant: str, source: str,
         **links: tuple[str, ...]) -> PatchExample:
    """A two-turn example."""
    return PatchExample(kind, family, (("user", user), ("assistant", assistant)), source, **links)


def replay(example_id: str, family: str, messages_json: str | list[dict[str, str]]) -> PatchExample:
    """A Builder example replayed as it is."""
    messages = json.loads(messages_json) if isinstance(messages_json, str) else messages_json
    return PatchExample("replay", family or "replay", tuple((m["role"], m["content"]) for m in messages), example_id,
                        replays=(example_id,))


def fact(subject: str, phrase: str, obj: str) -> str:
    return f"{capitalise(subject)} {phrase} {obj}."


def refine_relation(r: RelationFacts, vocab: Vocabulary, *, seed: int, context_chars: int,
                    contrary_stated: bool) -> list[PatchExample]:
    """f_refine examples about one weak relation (its type must be in ``vocab``).

    ``contrary_stated`` says the graph also states ``subject <inverse> object``, in which case no
    example rejects that statement.
    """
    t = vocab.get(r.type)
    field, s, o, key = field_of(r.discipline), r.subject, r.object, (r.id, seed)
    stated = fact(s, t.phrase, o)
    source = f" The source says: “{r.evidence.strip()}”" if r.evidence.strip() else ""
    links = {"teaches": (r.subject_id, r.object_id), "chunks": (r.chunk_id,) if r.chunk_id else ()}
    # the benchmark's own wording of this one hop, answered with the concept's name (the form the
    # Builder's question family trains)
    out: list[PatchExample] = [chat("f_refine", "refine_question", question_text(r.discipline, s, [r.type], vocab), o,
                                    r.id, **links)]
    if r.evidence.strip() and r.chunk_text:
        where = f" from “{r.title}”" if r.title else ""
        text = passage(r.chunk_text, r.evidence, context_chars)
        q = pick_variant((
            f"Read this passage{where}:\n{text}\n\nBased on the passage, explain how {s} is related to {o}.",
            f"Passage{where}:\n{text}\n\nWhat does the passage say about {s} and {o}?",
            f"{text}\n\nUsing only the text above, state the relation between {s} and {o} ({field})."),
                  *key, "grounded")
        out.append(chat("f_refine", "refine_grounded", q, f"{stated} As the passage puts it: “{r.evidence.strip()}”",
                        r.id, **links))
    q = pick_variant((f"Complete the {field} statement: {s} {t.phrase} …",
               f"In {field}, fill in the blank: {s} {t.phrase} ____.",
               f"Finish this sentence about {field}: “{capitalise(s)} {t.phrase} …”"), *key, "forward")
    out.append(chat("f_refine", "refine_forward", q, stated + source, r.id, **links))
    q = pick_variant((f"In {field}, fill in the blank: ____ {t.phrase} {o}.",
               f"Complete the {field} statement from its end: … {t.phrase} {o}. What comes first?",
               f"In {field}, name the concept that {t.phrase} {o}."), *key, "backward")
    out.append(chat("f_refine", "refine_backward", q, stated + source, r.id, **links))
    q = pick_variant((f"True or false, in {field}: {s} {t.phrase} {o}.",
               f"Is it correct that {s} {t.phrase} {o} ({field})?"), *key, "verify")
    out.append(chat("f_refine", "refine_verify", q, f"True. {stated}{source}", r.id, **links))
    if r.type in CONTRARY and t.inverse and t.inverse != r.type and not contrary_stated:
        wrong = vocab.get(t.inverse).phrase
        q = pick_variant((f"True or false, in {field}: {s} {wrong} {o}.",
                   f"Is it correct that {s} {wrong} {o} ({field})?"), *key, "contrast")
        out.append(chat("f_refine", "refine_contrast", q,
                        f"False. {stated[:-1]}; it does not {_base(wrong)} {o}.{source}", r.id, **links))
    return out


def refine_concept(concept_id: str, name: str, discipline: str, facts: Sequence[str], *, seed: int) -> PatchExample:
    """An f_refine summary of what the graph states about one weak concept (``facts``: sentences)."""
    field = field_of(discipline)
    q = pick_variant((f"What are the key facts about {name} in {field}?", f"Summarise what {field} says about {name}.",
               f"List how {name} relates to other {field} concepts."), concept_id, seed, "concept")
    return chat("f_refine", "refine_concept", q, "\n".join(f"- {f}" for f in facts), concept_id,
                teaches=(concept_id,))


def _base(phrase: str) -> str:
    """'decreases' -> 'decrease', 'is part of' -> 'form part of' (for "it does not ..."), kept simple."""
    if phrase.startswith("is "):
        return "count as " + phrase[3:]
    if phrase.startswith("has "):
        return "have " + phrase[4:]
    first, _, rest = phrase.partition(" ")
    first = first[:-2] if first.endswith(("ches", "shes", "sses", "xes")) else first.removesuffix("s")
    return f"{first} {rest}".strip()


def _steps(chain: ChainView, vocab: Vocabulary, *, invrel: bool) -> list[str]:
    lines = []
    subject = chain.start.name
    for i, (t, c) in enumerate(zip(chain.relation_types, chain.concepts[1:], strict=True), start=1):
        rt = vocab.get(t)
        note = ""
        if invrel and t in CONTRARY and rt.inverse and rt.inverse != t:
            note = f" (it {rt.phrase} it, it does not {_base(vocab.get(rt.inverse).phrase)} it)"
        lines.append(f"Step {i}: {subject} {rt.phrase} {c.name}{note}, so X{i} is {c.name}.")
        subject = c.name
    return lines


def cot_chain(chain: ChainView, vocab: Vocabulary, *, seed: int, operator: str | None) -> list[PatchExample]:
    """f_cot scaffolds over one **train** chain (the caller guarantees the split); every relation type
    must be in ``vocab``. ``operator`` is the distractor operator that fooled the model, if any."""
    if chain.split != "train":  # the orthogonality contract: never scaffold a benchmark chain
        raise ValueError(f"chain {chain.id} is a {chain.split} chain: f_cot scaffolds only train chains")
    n, field = chain.length, field_of(chain.discipline)
    links = {"teaches": tuple(dict.fromkeys(c.id for c in chain.concepts)), "chains": (chain.id,)}
    asked = question_text(chain.discipline, chain.start.name, chain.relation_types, vocab)
    steps = _steps(chain, vocab, invrel=operator == "INVREL")
    end = chain.answer.name
    out = [chat("f_cot", "cot_answer", asked, end, chain.id, **links),  # the chain's question, answered
           chat("f_cot", "cot_walk", asked + " Work it out step by step.",
                "\n".join([*steps, f"Answer: X{n} is {end}."]), chain.id, **links)]
    path = ", then ".join(vocab.get(t).phrase for t in chain.relation_types)
    q = pick_variant((f"In {field}, start from {chain.start.name} and follow these relations in order: {path}. Which "
               "concept do you reach? Reason one step at a time.",
               f"In {field}: beginning at {chain.start.name}, apply “{path}” in turn. Where does the path end? "
               "Show each step."), chain.id, seed, "path")
    out.append(chat("f_cot", "cot_path", q, "\n".join([*steps, f"The path ends at {end}."]), chain.id, **links))
    if operator == "TRUNC" and n >= 2:
        stop = chain.concepts[n - 1].name
        out.append(chat("f_cot", "cot_no_shortcut", asked + " Explain each step, and why an intermediate concept is "
                        "not the answer.",
                        "\n".join([*steps, f"Stopping after step {n - 1} would give {stop}, but the question asks "
                                           f"for X{n}, which is {end}."]), chain.id, **links))
    return out
