"""The Builder stage: per discipline, read L2 relations with their grounding chunks, render the
template families, drop what a benchmark item already is, and write ``(:TrainingExample)`` nodes.

Deterministic (ids derive from dataset, relation, family and template version) and idempotent:
rebuilding writes the same nodes again (MERGE), a new relation adds its examples, and a budget
takes relations in a seeded order so it samples the whole discipline instead of its first pages.

With a paraphrase backend (``BuildConfig.paraphrase_backend``) the question part of each user turn
(and, with ``paraphrase_answers``, the answer's statement of the fact) is reworded before the example
is written. A rewording that drops one of the fact's concepts or names the answer keeps the template,
counted by reason in ``DisciplineBuild.paraphrase``; passages, option lists and quoted evidence are
never sent for rewording. ``qa_hash`` is computed over the final turns, as the orthogonality check needs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proda.config import LLMSettings
from proda.pipelines.build.config import BuildConfig
from proda.pipelines.build.templates import TEMPLATE_VERSION, Example, RelationFacts, examples_for_relation
from proda.pipelines.llm.paraphrase import occurrences
from proda.pipelines.tester.model import instance_hash
from proda.schema.store.base import GraphStore
from proda.schema.vocabulary import Vocabulary, default_vocabulary

if TYPE_CHECKING:
    from proda.pipelines.llm.paraphrase import Paraphraser

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int], None]
"""Called with (discipline, examples written so far in it)."""


@dataclass
class DisciplineBuild:
    """What the Builder did in one discipline."""

    discipline: str
    relations: int = 0
    examples: int = 0
    families: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count
    # "paraphrased" / "kept_template: <reason>" per reworded question ("answer ..." for answers)
    paraphrase: Counter[str] = field(default_factory=Counter)


@dataclass
class BuildReport:
    """The whole build, per discipline."""

    dataset: str
    disciplines: list[DisciplineBuild] = field(default_factory=list)
    paraphrase_llm: dict[str, Any] | None = None  # LLM totals of the paraphrase, when one ran

    @property
    def examples(self) -> int:
        return sum(d.examples for d in self.disciplines)


def example_id(dataset: str, relation_id: str, family: str) -> str:
    key = f"{dataset}\x1f{relation_id}\x1f{family}\x1f{TEMPLATE_VERSION}"
    return "tex_" + hashlib.sha256(key.encode()).hexdigest()[:20]


def _order(relation_id: str, seed: int) -> bytes:
    return hashlib.sha256(f"{seed}\x1f{relation_id}".encode()).digest()


def read_relations(store: GraphStore, discipline: str, page_size: int) -> Iterator[RelationFacts]:
    """Every live relation of ``discipline``, paged by subject concept (keyset paging: stable under
    concurrent writes; ``page_size`` concepts per round trip, each with all its relations)."""
    after = ""
    while True:
        rows = store.query("build_relations", {"discipline": discipline, "after": after, "limit": page_size})
        for r in rows:
            if r["id"] is None:  # a concept without live relations: it only moves the cursor
                continue
            yield RelationFacts(id=r["id"], type=r["type"], subject_id=r["subject_id"], subject=r["subject"],
                                object_id=r["object_id"], object=r["object"], discipline=discipline,
                                evidence=r["evidence"] or "", chunk_id=r["chunk_id"] or "",
                                chunk_text=r["chunk_text"] or "", title=r["title"] or "")
        concepts = len({r["cursor"] for r in rows})
        if concepts < page_size:
            return
        after = rows[-1]["cursor"]


def distractor_pool(relations: list[RelationFacts]) -> tuple[list[str], dict[tuple[str, str], set[str]]]:
    """What the recall family draws distractors from: every concept name of the discipline, sorted, and
    the true objects per (subject id, relation type), which are never offered as wrong options."""
    names = sorted({r.subject for r in relations} | {r.object for r in relations})
    objects: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in relations:
        objects[(r.subject_id, r.type)].add(r.object)
    return names, objects


def _distractors(r: RelationFacts, names: list[str], true_objects: set[str], seed: int) -> list[str]:
    """Three names of the discipline that ``r.subject`` is not related to by ``r.type`` (per the graph),
    drawn uniformly by a generator seeded with the relation (the same three on every build).

    Drawn, not ranked: ranking every name per relation costs relations x concepts hashes, minutes for
    a discipline of 18,000 relations (benchmarks/stage_reads.py). Few names are banned, so a handful of
    draws suffices; the walk over all names is for disciplines where most names are banned."""
    if not names:
        return []
    banned = true_objects | {r.subject}
    rng = random.Random(_order(r.id, seed))
    picked: list[str] = []
    for _ in range(30):
        n = names[rng.randrange(len(names))]
        if n not in banned and n not in picked:
            picked.append(n)
            if len(picked) == 3:
                return picked
    rest = [n for n in names if n not in banned and n not in picked]
    rng.shuffle(rest)
    return (picked + rest)[:3]


def _rows(dataset: str, examples: list[Example]) -> list[dict[str, Any]]:
    return [{"id": example_id(dataset, e.relation.id, e.family), "subject_id": e.relation.subject_id,
             "object_id": e.relation.object_id, "chunk_id": e.relation.chunk_id,
             "props": {"dataset": dataset, "discipline": e.relation.discipline, "family": e.family,
                       "messages": json.dumps(e.messages, ensure_ascii=False), "relation_id": e.relation.id,
                       "relation_type": e.relation.type, "chunk_id": e.relation.chunk_id,
                       "qa_hash": instance_hash(e.user, e.assistant), "template_version": TEMPLATE_VERSION,
                       # null removes what an earlier paraphrased build of the same example set
                       "paraphrased_by": e.paraphrased_by,
                       "template": None if e.template_messages is None else json.dumps(e.template_messages,
                                                                                       ensure_ascii=False)}}
            for e in examples]


def _reword_part(text: str, span: tuple[int, int] | None, rewrite: Callable[[str], str]) -> str:
    start, end = span or (0, len(text))
    return text[:start] + rewrite(text[start:end]) + text[end:]


def reword_example(e: Example, paraphraser: Paraphraser, *, answers: bool = False) -> tuple[Example, list[str]]:
    """``e`` with its question (and with ``answers`` its statement of the fact) paraphrased where the
    rewording passes the checks; returns the example and one outcome per reworded text.

    The question must keep every concept of the fact it names and may not name the one it asks
    for, nor a recall distractor; the answer must keep both concepts. Only the spans the template
    marks are sent (:attr:`Example.user_span`, :attr:`Example.answer_span`), so a passage, an option
    list and quoted evidence stay verbatim.
    """
    r = e.relation
    outcomes: list[str] = []

    def question(stem: str) -> str:
        named = [n for n in (r.subject, r.object) if occurrences(n, stem, (r.subject, r.object))]
        forbid = [*((n, "answer") for n in (r.subject, r.object) if n not in named),
                  *((d, "option") for d in e.distractors)]
        out = paraphraser.reword(stem, kind="training_question", discipline=r.discipline, keep=named, forbid=forbid)
        outcomes.append(out.outcome)
        return out.text

    def answer(fact: str) -> str:
        out = paraphraser.reword(fact, kind="training_answer", discipline=r.discipline, keep=[r.subject, r.object],
                                 forbid=[(d, "option") for d in e.distractors])
        outcomes.append(f"answer {out.outcome}")
        return out.text

    user = _reword_part(e.user, e.user_span, question)
    assistant = _reword_part(e.assistant, e.answer_span, answer) if answers else e.assistant
    if (user, assistant) == (e.user, e.assistant):
        return e, outcomes
    return replace(e, user=user, assistant=assistant, paraphrased_by=paraphraser.label,
                   template=(e.user, e.assistant)), outcomes


def build_discipline(store: GraphStore, discipline: str, config: BuildConfig, vocab: Vocabulary,
                     progress: ProgressFn | None = None, paraphraser: Paraphraser | None = None) -> DisciplineBuild:
    """Build one discipline's examples (reworded by ``paraphraser`` when given); returns what it did."""
    stats = DisciplineBuild(discipline=discipline)
    relations = list(read_relations(store, discipline, config.page_size))
    stats.relations = len(relations)
    names, objects = distractor_pool(relations)
    relations.sort(key=lambda r: _order(r.id, config.seed))
    pending: list[Example] = []
    for r in relations:
        if r.type not in vocab:
            stats.skipped["relation type not in the vocabulary"] += 1
            continue
        # only the recall family asks for distractors, and ranking them hashes every name of the discipline
        distractors = (_distractors(r, names, objects[(r.subject_id, r.type)], config.seed)
                       if "recall" in config.families else [])
        made = examples_for_relation(r, vocab, families=config.families, seed=config.seed,
                                     distractors=distractors, context_chars=config.context_chars)
        if "recall" in config.families and not any(e.family == "recall" for e in made):
            stats.skipped["recall: fewer than 3 unrelated concepts"] += 1
        if "grounded" in config.families and not (r.evidence and r.chunk_text):
            stats.skipped["grounded: no evidence or chunk text"] += 1
        if config.budget is not None:
            made = made[: max(0, config.budget - stats.examples - len(pending))]
        pending.extend(made)
        if len(pending) >= config.page_size:
            _write(store, config, pending, stats, paraphraser)
            pending = []
            if progress is not None:
                progress(discipline, stats.examples)
        if config.budget is not None and stats.examples + len(pending) >= config.budget:
            break
    _write(store, config, pending, stats, paraphraser)
    if progress is not None:
        progress(discipline, stats.examples)
    return stats


def _write(store: GraphStore, config: BuildConfig, examples: list[Example], stats: DisciplineBuild,
           paraphraser: Paraphraser | None) -> None:
    if not examples:
        return
    if paraphraser is not None:
        reworded = []
        for e in examples:
            e, outcomes = reword_example(e, paraphraser, answers=config.paraphrase_answers)
            stats.paraphrase.update(outcomes)
            reworded.append(e)
        examples = reworded
    rows = _rows(config.dataset, examples)
    hits = {r["qa_hash"] for r in store.query("benchmark_hash_hits",
                                              {"hashes": [row["props"]["qa_hash"] for row in rows]})}
    keep = [(row, e) for row, e in zip(rows, examples, strict=True) if row["props"]["qa_hash"] not in hits]
    stats.skipped["instance-identical to a benchmark item"] += len(rows) - len(keep)
    # the same text from two relations (e.g. two chunks stating one fact) is one example
    seen: set[str] = set()
    unique = []
    for row, e in keep:
        h = row["props"]["qa_hash"]
        if h in seen:
            stats.skipped["duplicate text"] += 1
            continue
        seen.add(h)
        unique.append((row, e))
    if unique:
        store.query("upsert_training_examples", {"rows": [row for row, _ in unique]})
    stats.examples += len(unique)
    stats.families.update(e.family for _, e in unique)


def build_examples(store: GraphStore, config: BuildConfig, *, vocab: Vocabulary | None = None,
                   progress: ProgressFn | None = None, home: Path | None = None,
                   paraphraser: Paraphraser | None = None, llm: LLMSettings | None = None) -> BuildReport:
    """Build every discipline (or ``config.discipline``); returns the per-discipline report.

    ``paraphraser`` injects a client (tests, services); otherwise, when ``config`` names a paraphrase
    backend, one is built with its response cache under ``home`` (required then) and the entry point's
    ``llm`` settings (servers, models, keys; the environment when None). Raises
    :class:`~proda.errors.ConfigError` when that backend cannot be set up (no key, no model).
    """
    vocab = vocab or default_vocabulary()
    own = paraphraser is None and config.paraphrase_backend is not None
    if own:
        from proda.pipelines.llm.paraphrase import make_paraphraser

        paraphraser = make_paraphraser(config, home, settings=llm)
    try:
        return _build_all(store, config, vocab, progress, paraphraser)
    finally:
        if own and paraphraser is not None:
            paraphraser.close()


def _build_all(store: GraphStore, config: BuildConfig, vocab: Vocabulary, progress: ProgressFn | None,
               paraphraser: Paraphraser | None) -> BuildReport:
    if config.discipline is not None:
        disciplines = [config.discipline]
    else:
        rows = store.query("discipline_counts", {"discipline": None})
        disciplines = sorted({r["discipline"] for r in rows if r["element"] == "relations" and r["discipline"]})
    report = BuildReport(dataset=config.dataset)
    for d in disciplines:
        report.disciplines.append(build_discipline(store, d, config, vocab, progress, paraphraser))
    if paraphraser is not None:
        report.paraphrase_llm = paraphraser.usage()
    return report
