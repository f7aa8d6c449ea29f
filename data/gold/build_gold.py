"""Turn the hand-annotated gold chains into the ``proda load`` files ``dev.jsonl`` and ``test.jsonl``.

Run from the repository root: ``python data/gold/build_gold.py`` (``--pool``, ``--annotations`` and
``--out`` point elsewhere). Reads ``pool.jsonl`` (the chunks, see ``select_pool.py``) and every
``annotations/<discipline>.jsonl`` (one line per pool chunk, see ``GUIDELINES.md``) and checks them
all before writing anything:

- every line is a JSON object ``{"key", "chains", "notes"}`` whose key is a pool chunk of the file's
  discipline, and every pool chunk of an annotated discipline has exactly one line;
- every step names a relation type of the default vocabulary exactly, and its evidence is a verbatim
  substring of the chunk text;
- consecutive steps of a chain share their concept (step i's object is step i+1's subject, compared
  with :func:`~proda.schema.ids.normalise_name`), no concept repeats in a chain, a chain has 1-5 steps.

Every problem is reported with its file, line, chain and step (chains and steps counted from 0),
all at once. The output holds Document, Chunk (the pool text and ordinal), Concept, Relation and
Chain records with provenance ``extractor=gold``; ``Chain.split`` is the chunk's pool split. A
triple stated in two chunks gets one Relation record per chunk (same id, each with its own chunk and
evidence), so every chunk's gold stays complete; loading merges them by id. Records are sorted by
kind, then chunk, then id: rebuilding from the same inputs gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proda.errors import InputError
from proda.pipelines.ingest.chunking import estimate_tokens
from proda.schema.ids import concept_id, normalise_name
from proda.schema.models import Chain, Chunk, Concept, Document, Provenance, Relation
from proda.schema.store.writer import ORDER, Element
from proda.schema.vocabulary import Vocabulary, default_vocabulary

HERE = Path(__file__).parent
GOLD = Provenance(extractor="gold", model=None, prompt_version="gold-v1")
SPLITS = ("dev", "test")
MAX_STEPS = 5


class PoolRow(BaseModel):
    """One chunk of ``pool.jsonl``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    split: str = Field(pattern="^(dev|test)$")
    discipline: str
    source_id: str
    ordinal: int = Field(ge=0)
    book: str = ""
    title: str = ""
    section: str = ""
    license: str = ""
    source: str = ""
    document_hash: str = Field(default="", description="content hash of the whole normalised module, as ingest "
                               "computes it, so ingesting the module after loading the gold sees it unchanged")
    text: str = Field(min_length=1)


class GoldStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str
    relation: str
    object: str
    evidence: str


class GoldChain(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[GoldStep]
    summary: str = ""


class AnnotationLine(BaseModel):
    """One line of ``annotations/<discipline>.jsonl``."""

    model_config = ConfigDict(extra="forbid")

    key: str
    chains: list[GoldChain]
    notes: str = ""


@dataclass
class Annotated:
    """A pool chunk with its checked annotation."""

    row: PoolRow
    chains: list[GoldChain]


@dataclass
class Checked:
    """What :func:`check` found: the annotated chunks in pool order, and every problem."""

    chunks: list[Annotated] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_pool(path: Path) -> list[PoolRow]:
    """The pool's chunks in file order; raises :class:`InputError` naming the line of a bad row."""
    rows: list[PoolRow] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"cannot read the pool: {e.strerror}", source=str(path)) from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(PoolRow.model_validate_json(line))
        except ValidationError as e:
            raise InputError(f"invalid pool row: {_first_error(e)}", source=str(path), line=n) from None
    return rows


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "line"
    return f"{loc}: {err['msg']}"


def _where(err_loc: Sequence[int | str]) -> str:
    """'chain 2 step 0: evidence' from a pydantic location ('chains', 2, 'steps', 0, 'evidence')."""
    parts: list[str] = []
    loc = list(err_loc)
    while loc:
        head = loc.pop(0)
        if head in ("chains", "steps") and loc and isinstance(loc[0], int):
            parts.append(f"{'chain' if head == 'chains' else 'step'} {loc.pop(0)}")
        else:
            parts.append(str(head))
    return " ".join(parts)


def _check_chain(chain: GoldChain, text: str, vocab: Vocabulary, where: str) -> list[str]:
    problems: list[str] = []
    if not 1 <= len(chain.steps) <= MAX_STEPS:
        problems.append(f"{where}: {len(chain.steps)} steps (a chain has 1-{MAX_STEPS})")
    names: list[str] = []
    for si, step in enumerate(chain.steps):
        at = f"{where} step {si}"
        if step.relation not in vocab:
            problems.append(f"{at}: relation {step.relation!r} is not a type of the vocabulary "
                            f"({', '.join(vocab)})")
        for role in ("subject", "object"):
            if not normalise_name(getattr(step, role)):
                problems.append(f"{at}: empty {role}")
        if not step.evidence.strip():
            problems.append(f"{at}: empty evidence")
        elif step.evidence not in text:
            problems.append(f"{at}: evidence is not a verbatim substring of the chunk: {step.evidence[:80]!r}")
        if si and normalise_name(chain.steps[si - 1].object) != normalise_name(step.subject):
            problems.append(f"{at}: subject {step.subject!r} is not the previous step's object "
                            f"{chain.steps[si - 1].object!r}")
        names.append(normalise_name(step.subject))
    if chain.steps:
        names.append(normalise_name(chain.steps[-1].object))
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"{where}: concept {repeated[0]!r} repeats in the chain")
    return problems


def check(pool: Sequence[PoolRow], annotation_files: Iterable[Path],
          vocab: Vocabulary | None = None) -> Checked:
    """Check every annotation file against the pool; returns the annotated chunks and all problems.

    A file ``<discipline>.jsonl`` must cover every pool chunk of that discipline exactly once;
    disciplines without a file are simply not part of the gold set.
    """
    vocab = vocab or default_vocabulary()
    by_key = {r.key: r for r in pool}
    disciplines = {r.discipline for r in pool}
    found: dict[str, list[GoldChain]] = {}
    out = Checked()
    annotated: set[str] = set()
    for path in sorted(annotation_files):
        discipline = path.stem
        if discipline not in disciplines:
            out.problems.append(f"{path}: no pool chunk has discipline {discipline!r} (the file name "
                                f"names the discipline: {', '.join(sorted(disciplines))})")
            continue
        annotated.add(discipline)
        first_line: dict[str, int] = {}
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                ann = AnnotationLine.model_validate_json(line)
            except ValidationError as e:
                for err in e.errors()[:5]:
                    out.problems.append(f"{where}: {_where(err['loc']) or 'line'}: {err['msg']}")
                continue
            row = by_key.get(ann.key)
            if row is None:
                out.problems.append(f"{where}: key {ann.key!r} is not in the pool")
                continue
            if row.discipline != discipline:
                out.problems.append(f"{where}: key {ann.key!r} belongs to {row.discipline!r}, not {discipline!r}")
                continue
            if ann.key in first_line:
                out.problems.append(f"{where}: key {ann.key!r} is already annotated on line {first_line[ann.key]}")
                continue
            first_line[ann.key] = n
            for ci, chain in enumerate(ann.chains):
                out.problems.extend(_check_chain(chain, row.text, vocab, f"{where} chain {ci}"))
            found[ann.key] = ann.chains
        for row in pool:
            if row.discipline == discipline and row.key not in first_line:
                out.problems.append(f"{path}: pool chunk {row.key!r} has no line")
    out.chunks = [Annotated(r, found[r.key]) for r in pool if r.discipline in annotated and r.key in found]
    return out


def records(chunks: Sequence[Annotated]) -> dict[str, list[Element]]:
    """The load-format records of checked chunks, per split, in a stable order."""
    names: dict[str, tuple[str, str]] = {}  # concept id -> (name as first written in pool order, discipline)
    mentions: dict[str, dict[str, set[str]]] = {s: {} for s in SPLITS}
    out: dict[str, dict[tuple[str, str, str], Element]] = {s: {} for s in SPLITS}

    def put(split: str, e: Element, chunk: str = "") -> None:
        out[split].setdefault((e.kind, chunk, e.id), e)

    for item in chunks:
        row, split = item.row, item.row.split
        doc = Document(source_id=row.source_id, discipline=row.discipline, title=row.title, book=row.book,
                       source=row.source, license=row.license, content_hash=row.document_hash)
        chunk = Chunk(document_id=doc.id, ordinal=row.ordinal, discipline=row.discipline, text=row.text,
                      section=row.section, n_tokens=estimate_tokens(row.text))
        put(split, doc)
        put(split, chunk)
        for gc in item.chains:
            rels: list[Relation] = []
            for step in gc.steps:
                ids = []
                for name in (step.subject, step.object):
                    cid = concept_id(name, row.discipline)
                    names.setdefault(cid, (name.strip(), row.discipline))
                    mentions[split].setdefault(cid, set()).add(chunk.id)
                    ids.append(cid)
                rel = Relation(type=step.relation, subject_id=ids[0], object_id=ids[1], discipline=row.discipline,
                               evidence=step.evidence, chunk_id=chunk.id, provenance=GOLD)
                put(split, rel, chunk.id)  # a triple in two chains of one chunk: its first statement
                rels.append(rel)
            chain = Chain(discipline=row.discipline, relation_ids=[r.id for r in rels],
                          concept_ids=[rels[0].subject_id, *[r.object_id for r in rels]],
                          relation_types=[r.type for r in rels], chunk_id=chunk.id, evidence=gc.summary.strip(),
                          split="dev" if split == "dev" else "test", provenance=GOLD)
            put(split, chain, chunk.id)
    for split in SPLITS:
        for cid, chunk_ids in mentions[split].items():
            name, discipline = names[cid]
            put(split, Concept(name=name, discipline=discipline, chunk_ids=sorted(chunk_ids), provenance=GOLD))
    rank = {k: i for i, k in enumerate(ORDER)}
    return {s: [e for _, e in sorted(out[s].items(), key=lambda kv: (rank[kv[0][0]], kv[0][1], kv[0][2]))]
            for s in SPLITS}


def build(pool_path: Path, annotations_dir: Path) -> dict[str, list[Element]]:
    """Check the annotations against the pool and return the records per split.

    Raises :class:`InputError` listing every problem (file, line, chain, step) when there is any.
    """
    pool = read_pool(pool_path)
    files = sorted(annotations_dir.glob("*.jsonl"))
    checked = check(pool, files)
    if checked.problems:
        listing = "\n".join(f"  {p}" for p in checked.problems)
        raise InputError(f"{len(checked.problems)} problem(s) in the annotations:\n{listing}",
                         source=str(annotations_dir))
    return records(checked.chunks)


def serialise(elements: Iterable[Element]) -> str:
    """The JSONL text of ``elements`` (one record per line, the ``proda load`` format)."""
    return "".join(json.dumps(e.model_dump(mode="json"), ensure_ascii=False) + "\n" for e in elements)


def write_gold(pool_path: Path, annotations_dir: Path, out_dir: Path) -> dict[str, Path]:
    """Build and write ``<out_dir>/dev.jsonl`` and ``test.jsonl``; returns their paths."""
    built = build(pool_path, annotations_dir)
    written: dict[str, Path] = {}
    for split in SPLITS:
        path = out_dir / f"{split}.jsonl"
        path.write_text(serialise(built[split]), encoding="utf-8")
        written[split] = path
    return written


def summary(path: Path) -> dict[str, Any]:
    """Counts of a written gold file per kind (for the command's report)."""
    counts: dict[str, Any] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        kind = json.loads(line)["kind"]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pool", type=Path, default=HERE / "pool.jsonl")
    parser.add_argument("--annotations", type=Path, default=HERE / "annotations")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    try:
        written = write_gold(args.pool, args.annotations, args.out)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for split, path in written.items():
        print(f"{split}: {path} {summary(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
