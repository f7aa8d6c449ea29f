"""Score an extractor against a hand-annotated gold set (``data/gold``): precision, recall, chains.

The gold file is in the ``proda load`` format (Document, Chunk, Concept, Relation and Chain records;
``data/gold/build_gold.py`` writes it). For every gold chunk the injected extractor runs on the same
:class:`~proda.pipelines.extract.model.ChunkInput` the extraction stage would give it, and its answer
goes through :func:`~proda.pipelines.extract.topdown.to_elements` exactly as in the stage, so a step
the stage would quarantine (unknown type, ungrounded evidence, a self-loop) is not a prediction here
either. What remains is compared with the chunk's gold triples:

- concepts match *strictly* when their resolver keys are equal (the singular key entity resolution
  compares, :func:`~proda.pipelines.extract.resolve_candidates.usable_key`; the normalised name for
  acronyms and short names), and *leniently* (the headline figure) when they match strictly, when
  the keys are as close as entity resolution's fuzzy threshold allows, or when one name is a
  contiguous part of the other covering at least half of it (see :func:`names_match`);
- relation types are compared after the vocabulary's synonym mapping; a converse pair with swapped
  arguments (``part_of``/``has_part``, ``precedes``/``follows``) is one triple, and a symmetric type
  matches in either direction;
- within a chunk, predicted and gold triples are paired one-to-one, greedily and deterministically
  (strict pairs first, then the most similar names, then text order).

Precision, recall and F1 are micro-averaged per discipline and overall; a gold chain is recalled
when every one of its steps is matched. An extractor that raises on a chunk is counted by exception
type and scores nothing there; only a budget stop ends the run.
"""

from __future__ import annotations

import time
from codecs import BOM_UTF8
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from proda.errors import BudgetExceeded, InputError
from proda.pipelines.extract.model import ChunkInput
from proda.pipelines.extract.resolve_candidates import DEFAULT_THRESHOLD, fuzzy_blocked, usable_key
from proda.pipelines.extract.stage import Extractor, extractor_key
from proda.pipelines.extract.topdown import default_resolver, to_elements
from proda.pipelines.load import parse_line
from proda.schema.ids import normalise_name
from proda.schema.models import Chain, Chunk, Concept, Document, Provenance, Relation
from proda.schema.vocabulary import Vocabulary, default_vocabulary

# Of the vocabulary's inverse pairs only these are converses (a R b says the same as b R' a); the
# others (causes/prevents, increases/decreases, requires/enables) are contraries, different claims.
CONVERSES: dict[str, str] = {"has_part": "part_of", "follows": "precedes"}


# --- gold ------------------------------------------------------------------------------------------


class Triple(BaseModel):
    """One L2 triple as the scorer compares it: names as written, type after synonym mapping."""

    subject: str
    relation: str
    object: str
    evidence: str = ""

    def __str__(self) -> str:
        return f"{self.subject} -[{self.relation}]-> {self.object}"


@dataclass
class GoldChunk:
    """One chunk of the gold set with its triples and chains (chains as indexes into ``triples``)."""

    chunk: Chunk
    document: Document
    split: str | None = None
    triples: list[Triple] = field(default_factory=list)
    chains: list[list[int]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """``source_id#ordinal``: the chunk's key in ``data/gold/pool.jsonl``."""
        return f"{self.document.source_id}#{self.chunk.ordinal}"

    def chunk_input(self) -> ChunkInput:
        """What the extraction stage gives an extractor for this chunk."""
        return ChunkInput(chunk_id=self.chunk.id, discipline=self.chunk.discipline, text=self.chunk.text,
                          title=self.document.title, section=self.chunk.section)


def read_gold(path: Path, vocabulary: Vocabulary | None = None) -> list[GoldChunk]:
    """Read a gold file in the ``proda load`` format; returns its chunks in file order.

    Every line is validated as ``proda load`` validates it. A chain's relations are looked up in its
    own chunk first (a triple stated in two chunks has one record per chunk, with the same id).
    Raises :class:`InputError` naming the file and line of a bad record or of a dangling reference.
    """
    vocab = vocabulary or default_vocabulary()
    if not path.is_file():
        raise InputError("no such gold file", source=str(path))
    documents: dict[str, Document] = {}
    chunks: dict[str, tuple[int, Chunk]] = {}
    concepts: dict[str, Concept] = {}
    relations: dict[tuple[str, str], tuple[int, Relation]] = {}
    chains: list[tuple[int, Chain]] = []
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            if n == 1:
                raw = raw.removeprefix(BOM_UTF8)
            if not raw.strip():
                continue
            try:
                record = parse_line(raw.decode("utf-8"), vocab)
            except UnicodeDecodeError as e:
                raise InputError(f"not valid UTF-8 at byte {e.start}", source=str(path), line=n) from None
            except ValueError as e:
                raise InputError(str(e), source=str(path), line=n) from None
            if isinstance(record, Document):
                documents[record.id] = record
            elif isinstance(record, Chunk):
                chunks[record.id] = (n, record)
            elif isinstance(record, Concept):
                concepts[record.id] = record
            elif isinstance(record, Relation):
                relations.setdefault((record.id, record.chunk_id), (n, record))
                relations.setdefault((record.id, ""), (n, record))
            else:
                chains.append((n, record))

    out: dict[str, GoldChunk] = {}
    for cid, (n, chunk) in chunks.items():
        doc = documents.get(chunk.document_id)
        if doc is None:
            raise InputError(f"chunk {cid} names document {chunk.document_id}, which is not in the file",
                             source=str(path), line=n)
        out[cid] = GoldChunk(chunk=chunk, document=doc)
    seen: dict[str, dict[str, int]] = {cid: {} for cid in out}  # chunk -> relation id -> triple index
    for n, chain in chains:
        gold = out.get(chain.chunk_id)
        if gold is None:
            raise InputError(f"chain {chain.id} names chunk {chain.chunk_id or '(none)'}, which is not in the file",
                             source=str(path), line=n)
        gold.split = gold.split or chain.split
        indexes: list[int] = []
        for rid in chain.relation_ids:
            found = relations.get((rid, chain.chunk_id)) or relations.get((rid, ""))
            if found is None:
                raise InputError(f"chain {chain.id} names relation {rid}, which is not in the file",
                                 source=str(path), line=n)
            rn, rel = found
            if rid not in seen[gold.chunk.id]:
                names = []
                for ref in (rel.subject_id, rel.object_id):
                    concept = concepts.get(ref)
                    if concept is None:
                        raise InputError(f"relation {rid} names concept {ref}, which is not in the file",
                                         source=str(path), line=rn)
                    names.append(concept.name)
                seen[gold.chunk.id][rid] = len(gold.triples)
                gold.triples.append(Triple(subject=names[0], relation=rel.type, object=names[1],
                                           evidence=rel.evidence))
            indexes.append(seen[gold.chunk.id][rid])
        gold.chains.append(indexes)
    return list(out.values())


# --- matching --------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def concept_key(name: str) -> str:
    """The resolver's key of a name: its singular match key, or the normalised name for acronyms and
    short names (which entity resolution only ever matches exactly)."""
    return usable_key(name) or normalise_name(name)


def _contiguous_part(a: Sequence[str], b: Sequence[str]) -> bool:
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if not short or 2 * len(short) < len(long):
        return False
    return any(list(long[i:i + len(short)]) == list(short) for i in range(len(long) - len(short) + 1))


@lru_cache(maxsize=65536)
def names_match(a: str, b: str, lenient: bool = True) -> bool:
    """True when two concept names name the same concept (see the module docstring).

    Strict: equal resolver keys. Lenient adds two looser rules. The fuzzy rule is entity
    resolution's own (token_sort_ratio of the keys at its threshold, never for short names or
    acronyms, never for pairs it blocks such as "type a"/"type b"), so scoring counts as one concept
    what resolution would merge. The part rule accepts a name that is a contiguous run of the other's
    words covering at least half of them ("price level" / "the price level", "real wage rate" / "wage
    rate"): annotators and extractors cut the same noun phrase at different places, which is a
    boundary disagreement, not a different concept; requiring half the words keeps a bare head noun
    from matching every longer phrase that ends in it.
    """
    if normalise_name(a) == normalise_name(b):
        return True
    ka, kb = concept_key(a), concept_key(b)
    if ka == kb:
        return True
    if not lenient:
        return False
    if (usable_key(a) is not None and usable_key(b) is not None
            and fuzz.token_sort_ratio(ka, kb) >= DEFAULT_THRESHOLD and not fuzzy_blocked(ka, kb)):
        return True
    return _contiguous_part(ka.split(), kb.split())


def canonical(t: Triple) -> Triple:
    """The triple with a converse type turned round (``B has_part A`` -> ``A part_of B``)."""
    if t.relation in CONVERSES:
        return Triple(subject=t.object, relation=CONVERSES[t.relation], object=t.subject, evidence=t.evidence)
    return t


def _symmetric(vocab: Vocabulary, relation: str) -> bool:
    return relation in vocab and vocab.get(relation).symmetric


def triples_match(predicted: Triple, gold: Triple, vocabulary: Vocabulary, *, lenient: bool = True) -> bool:
    """True when a predicted triple states the gold one (types, converses, symmetry, names)."""
    p, g = canonical(predicted), canonical(gold)
    if p.relation != g.relation:
        return False
    if names_match(p.subject, g.subject, lenient) and names_match(p.object, g.object, lenient):
        return True
    return (_symmetric(vocabulary, p.relation) and names_match(p.subject, g.object, lenient)
            and names_match(p.object, g.subject, lenient))


def _similarity(p: Triple, g: Triple) -> float:
    a, b = canonical(p), canonical(g)
    direct = fuzz.ratio(concept_key(a.subject), concept_key(b.subject)) + fuzz.ratio(concept_key(a.object),
                                                                                     concept_key(b.object))
    swapped = fuzz.ratio(concept_key(a.subject), concept_key(b.object)) + fuzz.ratio(concept_key(a.object),
                                                                                     concept_key(b.subject))
    return max(direct, swapped)


def match_triples(predicted: Sequence[Triple], gold: Sequence[Triple], vocabulary: Vocabulary, *,
                  lenient: bool = True) -> list[tuple[int, int]]:
    """One-to-one (gold index, predicted index) pairs, greedy and deterministic.

    Candidate pairs are taken strict ones first, then by name similarity, then in gold and
    predicted order; a triple joins at most one pair.
    """
    candidates: list[tuple[int, float, int, int]] = []
    for gi, g in enumerate(gold):
        for pi, p in enumerate(predicted):
            if not triples_match(p, g, vocabulary, lenient=lenient):
                continue
            strict = lenient is False or triples_match(p, g, vocabulary, lenient=False)
            candidates.append((0 if strict else 1, -_similarity(p, g), gi, pi))
    used_g: set[int] = set()
    used_p: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for _, _, gi, pi in sorted(candidates):
        if gi in used_g or pi in used_p:
            continue
        used_g.add(gi)
        used_p.add(pi)
        pairs.append((gi, pi))
    return sorted(pairs)


# --- results ---------------------------------------------------------------------------------------


class MatchedPair(BaseModel):
    gold: Triple
    predicted: Triple
    strict: bool = Field(description="the pair also matches strictly (and is in the strict matching)")


class ChunkScore(BaseModel):
    """One chunk's comparison, for error analysis."""

    key: str = Field(description="source_id#ordinal, the chunk's pool key")
    chunk_id: str
    discipline: str
    split: str | None = None
    title: str = ""
    gold_triples: int = 0
    predicted_triples: int = 0
    matched: list[MatchedPair] = Field(default_factory=list, description="lenient one-to-one pairs")
    matched_strict: int = 0
    missed: list[Triple] = Field(default_factory=list, description="gold triples with no lenient match")
    spurious: list[Triple] = Field(default_factory=list, description="predicted triples with no lenient match")
    gold_chain_lengths: list[int] = Field(default_factory=list)
    predicted_chain_lengths: list[int] = Field(default_factory=list)
    chains_recalled: int = 0
    chains_recalled_strict: int = 0
    multi_chains: int = Field(default=0, description="gold chains of at least two steps")
    multi_chains_recalled: int = 0
    multi_chains_recalled_strict: int = 0
    predicted_types: dict[str, int] = Field(default_factory=dict)
    quarantined: int = Field(default=0, description="steps to_elements set aside (not predictions)")
    error: str | None = Field(default=None, description="exception type when the extractor raised")
    error_message: str = ""


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


class TypeMetrics(BaseModel):
    """One relation type's part of a score: precision over the predicted triples of the type, recall over
    the gold ones (a converse pair counts under each side's own type)."""

    gold: int = 0
    predicted: int = 0
    matched_gold: int = Field(default=0, description="gold triples of this type that were found")
    matched_predicted: int = Field(default=0, description="predicted triples of this type that match a gold one")
    precision: float = 0.0
    recall: float = 0.0


class Metrics(BaseModel):
    """Micro-averaged figures over a set of chunks (a discipline, or all). Ratios are 0 when undefined."""

    chunks: int = 0
    gold_triples: int = 0
    predicted_triples: int = 0
    matched: int = 0
    matched_strict: int = 0
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    precision_strict: float = 0.0
    recall_strict: float = 0.0
    f1_strict: float = 0.0
    gold_chains: int = 0
    chains_recalled: int = 0
    chain_recall: float = 0.0
    chain_recall_strict: float = 0.0
    gold_multi_chains: int = 0
    multi_chains_recalled: int = 0
    multi_chain_recall: float = 0.0
    multi_chain_recall_strict: float = 0.0
    gold_chain_lengths: dict[int, int] = Field(default_factory=dict)
    predicted_chain_lengths: dict[int, int] = Field(default_factory=dict)
    predicted_types: dict[str, int] = Field(default_factory=dict)
    chunks_without_prediction: int = 0
    chunks_without_gold: int = 0
    quarantined: int = 0
    errors: dict[str, int] = Field(default_factory=dict, description="chunks whose extraction raised, by type")
    by_type: dict[str, TypeMetrics] = Field(default_factory=dict, description="per relation type, by name")

    @classmethod
    def of(cls, scores: Iterable[ChunkScore]) -> Metrics:
        m = cls()
        strict_chains = strict_multi = 0
        gold_lengths: Counter[int] = Counter()
        pred_lengths: Counter[int] = Counter()
        types: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        gold_types: Counter[str] = Counter()
        found: Counter[str] = Counter()  # gold triples found, by their type
        right: Counter[str] = Counter()  # predicted triples that match, by their type
        for s in scores:
            m.chunks += 1
            m.gold_triples += s.gold_triples
            m.predicted_triples += s.predicted_triples
            m.matched += len(s.matched)
            m.matched_strict += s.matched_strict
            m.gold_chains += len(s.gold_chain_lengths)
            m.chains_recalled += s.chains_recalled
            strict_chains += s.chains_recalled_strict
            m.gold_multi_chains += s.multi_chains
            m.multi_chains_recalled += s.multi_chains_recalled
            strict_multi += s.multi_chains_recalled_strict
            gold_lengths.update(s.gold_chain_lengths)
            pred_lengths.update(s.predicted_chain_lengths)
            types.update(s.predicted_types)
            gold_types.update(t.relation for t in s.missed)
            gold_types.update(pair.gold.relation for pair in s.matched)
            found.update(pair.gold.relation for pair in s.matched)
            right.update(pair.predicted.relation for pair in s.matched)
            m.chunks_without_prediction += s.predicted_triples == 0
            m.chunks_without_gold += s.gold_triples == 0
            m.quarantined += s.quarantined
            if s.error is not None:
                errors[s.error] += 1
        m.precision, m.recall = _ratio(m.matched, m.predicted_triples), _ratio(m.matched, m.gold_triples)
        m.f1 = _f1(m.precision, m.recall)
        m.precision_strict = _ratio(m.matched_strict, m.predicted_triples)
        m.recall_strict = _ratio(m.matched_strict, m.gold_triples)
        m.f1_strict = _f1(m.precision_strict, m.recall_strict)
        m.chain_recall = _ratio(m.chains_recalled, m.gold_chains)
        m.chain_recall_strict = _ratio(strict_chains, m.gold_chains)
        m.multi_chain_recall = _ratio(m.multi_chains_recalled, m.gold_multi_chains)
        m.multi_chain_recall_strict = _ratio(strict_multi, m.gold_multi_chains)
        m.gold_chain_lengths = dict(sorted(gold_lengths.items()))
        m.predicted_chain_lengths = dict(sorted(pred_lengths.items()))
        m.predicted_types = dict(sorted(types.items(), key=lambda kv: (-kv[1], kv[0])))
        m.errors = dict(sorted(errors.items()))
        m.by_type = {t: TypeMetrics(gold=gold_types[t], predicted=types[t], matched_gold=found[t],
                                    matched_predicted=right[t], precision=_ratio(right[t], types[t]),
                                    recall=_ratio(found[t], gold_types[t]))
                     for t in sorted(set(gold_types) | set(types))}
        return m


class ScoreReport(BaseModel):
    """An extractor's score on one gold file: overall, per discipline, and per chunk."""

    extractor: str = Field(description="extractor key: name[:model]/prompt version")
    gold: str = Field(description="the gold file")
    discipline: str | None = Field(default=None, description="the only discipline scored, if one was named")
    seconds: float = 0.0
    overall: Metrics
    disciplines: dict[str, Metrics]
    chunks: list[ChunkScore]


# --- scoring ---------------------------------------------------------------------------------------

ProgressFn = Callable[[int, int, ChunkScore], None]  # (chunks done, chunks in all, the last one)


def score_chunk(gold: GoldChunk, extractor: Extractor, vocabulary: Vocabulary,
                provenance: Provenance | None = None) -> ChunkScore:
    """Run ``extractor`` on one gold chunk and compare what the stage would keep with the gold."""
    chunk = gold.chunk_input()
    out = ChunkScore(key=gold.key, chunk_id=gold.chunk.id, discipline=gold.chunk.discipline, split=gold.split,
                     title=gold.document.title, gold_triples=len(gold.triples),
                     gold_chain_lengths=[len(c) for c in gold.chains],
                     multi_chains=sum(1 for c in gold.chains if len(c) >= 2))
    prov = provenance or Provenance(extractor=extractor.name, model=extractor.model,
                                    prompt_version=extractor.prompt_version)
    predicted: list[Triple] = []
    try:
        # no alias table (there is no graph here): names stay as the extractor wrote them, and the
        # comparison itself folds what resolution would fold (names_match)
        result = to_elements(extractor.extract(chunk), chunk, prov, vocabulary, default_resolver)
    except BudgetExceeded:
        raise
    except Exception as e:  # noqa: BLE001 - one chunk's failure is a figure of the score, not the end of it
        out.error, out.error_message = type(e).__name__, str(e)[:500]
        result = None
    if result is not None:
        names = {e.id: e.name for e in result.elements if isinstance(e, Concept)}
        predicted = [Triple(subject=names[e.subject_id], relation=e.type, object=names[e.object_id],
                            evidence=e.evidence) for e in result.elements if isinstance(e, Relation)]
        out.predicted_chain_lengths = [len(e.relation_ids) for e in result.elements if isinstance(e, Chain)]
        out.quarantined = len(result.quarantined)
    out.predicted_triples = len(predicted)
    out.predicted_types = dict(Counter(t.relation for t in predicted))

    lenient = match_triples(predicted, gold.triples, vocabulary, lenient=True)
    strict = match_triples(predicted, gold.triples, vocabulary, lenient=False)
    strict_pairs = set(strict)
    out.matched = [MatchedPair(gold=gold.triples[g], predicted=predicted[p], strict=(g, p) in strict_pairs)
                   for g, p in lenient]
    out.matched_strict = len(strict)
    hit = {g for g, _ in lenient}
    hit_strict = {g for g, _ in strict}
    out.missed = [t for i, t in enumerate(gold.triples) if i not in hit]
    used = {p for _, p in lenient}
    out.spurious = [t for i, t in enumerate(predicted) if i not in used]
    for chain in gold.chains:
        whole, whole_strict = all(i in hit for i in chain), all(i in hit_strict for i in chain)
        out.chains_recalled += whole
        out.chains_recalled_strict += whole_strict
        if len(chain) >= 2:
            out.multi_chains_recalled += whole
            out.multi_chains_recalled_strict += whole_strict
    return out


def score(gold: Sequence[GoldChunk], extractor: Extractor, *, gold_path: str = "",
          discipline: str | None = None, vocabulary: Vocabulary | None = None,
          progress: ProgressFn | None = None) -> ScoreReport:
    """Score ``extractor`` on the gold chunks (of ``discipline`` only, when given).

    Raises :class:`InputError` when ``discipline`` has no gold chunk, and
    :class:`~proda.errors.BudgetExceeded` when an LLM extractor's budget stops it.
    """
    vocab = vocabulary or default_vocabulary()
    todo = [g for g in gold if discipline is None or g.chunk.discipline == discipline]
    if discipline is not None and not todo:
        have = sorted({g.chunk.discipline for g in gold})
        raise InputError(f"discipline {discipline!r} has no gold chunk; the gold set has: {', '.join(have)}",
                         source=gold_path or None)
    started = time.monotonic()
    scores: list[ChunkScore] = []
    for g in todo:
        scores.append(score_chunk(g, extractor, vocab))
        if progress is not None:
            progress(len(scores), len(todo), scores[-1])
    by_discipline: dict[str, list[ChunkScore]] = {}
    for s in scores:
        by_discipline.setdefault(s.discipline, []).append(s)
    return ScoreReport(extractor=extractor_key(extractor), gold=gold_path, discipline=discipline,
                       seconds=round(time.monotonic() - started, 3), overall=Metrics.of(scores),
                       disciplines={d: Metrics.of(v) for d, v in sorted(by_discipline.items())}, chunks=scores)


def score_file(path: Path, extractor: Extractor, *, discipline: str | None = None,
               vocabulary: Vocabulary | None = None, progress: ProgressFn | None = None) -> ScoreReport:
    """:func:`read_gold` then :func:`score`."""
    vocab = vocabulary or default_vocabulary()
    return score(read_gold(path, vocab), extractor, gold_path=str(path), discipline=discipline, vocabulary=vocab,
                 progress=progress)
