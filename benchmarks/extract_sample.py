"""Triples of a seeded sample of corpus chunks (not a test): what one version of the offline extractor says.

A whole-corpus run (``knowledge_density.py``) takes a quarter of an hour; reading what an extractor
change does needs only a few thousand chunks. This script chunks the corpus files as ``proda ingest``
does, draws ``--chunks`` of them with ``--seed``, runs the ``dependency`` extractor on each and writes
one JSON line per triple (before deduplication, with the rule that found it and its sentence).
Run it on two versions of the code (``--source``: a checkout of another commit, whose packages are
imported instead of the installed ones) and compare with ``relation_diff.py``, which takes these files
as well as kept graphs. A sample drawn with one seed to choose rules on and another to check them
keeps the check honest.

Run::

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/extract_sample.py --source /tmp/before --seed 8 --out /tmp/before.jsonl
    .venv/bin/python benchmarks/extract_sample.py --seed 8 --out /tmp/after.jsonl
    .venv/bin/python benchmarks/relation_diff.py /tmp/before.jsonl /tmp/after.jsonl --sample 40 --seed 21
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from rich.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT / "scripts"))
from typecheck import mirror  # noqa: E402  (the scripts folder is no package)


def import_from(checkout: Path, into: Path) -> None:
    """Make ``import proda`` load the packages of ``checkout`` (another commit's tree): the same tree of
    links that the type check builds, first on sys.path."""
    try:
        mirror(checkout, into)
    except (OSError, KeyError, tomllib.TOMLDecodeError) as e:
        raise SystemExit(f"--source {checkout}: no ProDa checkout there ({e!r})") from e
    sys.path.insert(0, str(into))


def chunks(files: list[Path]) -> list[tuple[str, str, str]]:
    """(discipline, chunk key, text) of every chunk of ``files``, in file order."""
    from proda.pipelines.ingest.chunking import chunk_text
    from proda.pipelines.ingest.normalise import normalise_text

    out: list[tuple[str, str, str]] = []
    for f in files:
        with f.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                try:
                    doc = json.loads(line)
                    text, doc_id = normalise_text(doc["text"]), str(doc["id"])
                except (ValueError, KeyError, TypeError) as e:
                    raise SystemExit(f"{f}:{n}: not a corpus record ({e})") from e
                out.extend((str(doc.get("discipline", "")), f"{doc_id}#{span.ordinal}", span.text)
                           for span in chunk_text(text))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", type=Path, nargs="*", help="corpus JSONL files (default: both files of ../shared/corpus)")
    p.add_argument("--chunks", type=int, default=3000, help="chunks to draw")
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--out", type=Path, required=True, help="JSONL file to write, one triple per line")
    p.add_argument("--source", type=Path, default=None,
                   help="a checkout of another commit whose extractor to run instead of the installed one")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="proda-source-") as shim:
        if a.source is not None:
            import_from(a.source.resolve(), Path(shim))
            import proda

            if not Path(proda.__file__ or "").is_relative_to(shim):
                raise SystemExit(f"--source {a.source}: the installed proda was imported instead")
        return run(a)


def run(a: argparse.Namespace) -> int:
    from proda.pipelines.extract.dependency import DependencyExtractor

    files = a.files or sorted(CORPUS.glob("*.jsonl"))
    if not files:
        raise SystemExit(f"no corpus files given and none in {CORPUS}")
    pool = chunks(files)
    drawn = random.Random(a.seed).sample(pool, min(a.chunks, len(pool)))
    extractor = DependencyExtractor()
    started, rows = time.perf_counter(), 0
    with a.out.open("w", encoding="utf-8") as out, Progress() as progress:
        task = progress.add_task("extracting", total=len(drawn))
        for discipline, key, text in drawn:
            for (subject, relation, obj), evidence, rule in extractor.triples(text):
                ident = hashlib.sha256("\x1f".join((key, subject, relation, obj, evidence)).encode()).hexdigest()[:20]
                out.write(json.dumps({"id": ident, "discipline": discipline, "chunk": key, "subject": subject,
                                      "type": relation, "object": obj, "rule": rule, "evidence": evidence},
                                     ensure_ascii=False) + "\n")
                rows += 1
            progress.advance(task)
    print(f"{len(drawn):,} of {len(pool):,} chunks (seed {a.seed}), {rows:,} triples, "
          f"{extractor.prompt_version}, {time.perf_counter() - started:.0f} s -> {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
