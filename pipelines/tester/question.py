"""Templated question wording: the question walks the chain from its start through its relation types.

Each step is worded with its relation type's verb phrase from the vocabulary, the unknown concepts
named X1..Xn, so a three-step chain reads::

    In economics: price decreases X1, X1 causes X2, and X2 increases X3. Which concept is X3?

Only the start concept is named: the intermediate concepts would give away the TRUNC distractors.
The wording is versioned (:data:`~proda.pipelines.tester.model.TEMPLATE_VERSION`) because it is part
of every item's instance hash.
"""

from __future__ import annotations

from collections.abc import Sequence

from proda.schema.vocabulary import Vocabulary


def question_text(discipline: str, start: str, relation_types: Sequence[str], vocab: Vocabulary) -> str:
    """The question for a chain from ``start`` through ``relation_types``.

    Raises :class:`UnknownRelationType` for a type the vocabulary cannot phrase.
    """
    if not relation_types:
        raise ValueError("a question needs at least one relation step")
    clauses = []
    subject = start
    for i, t in enumerate(relation_types, start=1):
        phrase = vocab.get(t).phrase  # raises UnknownRelationType, naming the declared types
        clauses.append(f"{subject} {phrase} X{i}")
        subject = f"X{i}"
    if len(clauses) == 1:
        walk = clauses[0]
    elif len(clauses) == 2:
        walk = f"{clauses[0]} and {clauses[1]}"
    else:
        walk = ", ".join(clauses[:-1]) + f", and {clauses[-1]}"
    return f"In {discipline.replace('_', ' ')}: {walk}. Which concept is X{len(relation_types)}?"

