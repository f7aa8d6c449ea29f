"""Every sentence of the shared OpenStax corpus goes through the offline extractor without an error.

One odd sentence must never abort a whole extraction run, so this feeds both corpus files
(``../shared/corpus``, see its README) through :class:`HeuristicExtractor`, the only extractor that
runs offline (the others call a model). Each paragraph (line) of a module is one chunk, so every
sentence of an English paragraph reaches the patterns and the chaining; a paragraph the extractor
skips as not English has each of its sentences fed to :func:`sentence_triples` directly. The work is split over a pool
of two processes. Nothing of the CC BY-NC-SA file is copied here: it is read where it lies.
"""

from __future__ import annotations

import json
import multiprocessing
import site
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from proda.pipelines.extract.heuristic import HeuristicExtractor, looks_english, split_sentences
from proda.pipelines.extract.heuristic_patterns import sentence_triples
from proda.pipelines.extract.model import ChunkInput

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FILES = ("openstax-cc-by.jsonl", "openstax-cc-by-nc-sa.jsonl")
SLICES = 4  # per file: eight tasks keep both workers busy to the end


def _failure(module: str, text: str, error: Exception) -> str:
    """Name the sentence that raised (the module, when no single sentence does)."""
    for start, end in split_sentences(text):
        try:
            sentence_triples(text[start:end])
        except Exception as e:  # noqa: BLE001 - any exception is the finding being reported
            return f"{module}: {type(e).__name__}: {e} on {text[start:end][:160]!r}"
    return f"{module}: {type(error).__name__}: {error}"


def _extract_slice(path: str, part: int, parts: int) -> tuple[int, int, list[str]]:
    """Extract the paragraphs of modules ``part::parts`` of one file; returns (modules, sentences, failures)."""
    extractor = HeuristicExtractor()
    modules = sentences = 0
    failures: list[str] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n % parts != part:
                continue
            record = json.loads(line)
            modules += 1
            # a sentence never spans lines (split_sentences splits lines first), so the lines
            # cover every sentence of the module
            for paragraph in record["text"].splitlines():
                spans = split_sentences(paragraph)
                if not spans:
                    continue
                sentences += len(spans)
                try:
                    extractor.extract(ChunkInput(chunk_id=record["id"], discipline=record["discipline"],
                                                 text=paragraph))
                    if not looks_english(paragraph):  # skipped whole by the extractor: reach its sentences
                        for start, end in spans:
                            sentence_triples(paragraph[start:end])
                except Exception as e:  # noqa: BLE001 - collect every failure, not just the first
                    failures.append(_failure(record["id"], paragraph, e))
    return modules, sentences, failures


def _sentences(path: Path) -> int:
    with path.open(encoding="utf-8") as f:
        return sum(len(split_sentences(json.loads(line)["text"])) for line in f)


@pytest.mark.slow
def test_every_corpus_sentence_goes_through_the_offline_extractor() -> None:
    missing = [name for name in FILES if not (CORPUS / name).is_file()]
    if missing:
        pytest.skip(f"shared corpus not found: {', '.join(str(CORPUS / m) for m in missing)}")
    tasks = [(str(CORPUS / name), part, SLICES) for name in FILES for part in range(SLICES)]
    # spawn: the pytest process holds a database connection and threads that a fork would copy;
    # the workers find this module through the repository root
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"),
                             initializer=site.addsitedir, initargs=(str(Path(__file__).resolve().parents[1]),)) as pool:
        results = list(pool.map(_extract_slice, *zip(*tasks, strict=True)))
    modules = sum(r[0] for r in results)
    sentences = sum(r[1] for r in results)
    failures = [f for r in results for f in r[2]]
    expected = sum(sum(1 for _ in (CORPUS / name).open(encoding="utf-8")) for name in FILES)
    assert modules == expected  # every module of both files was read
    assert sentences == sum(_sentences(CORPUS / name) for name in FILES)
    assert failures == []
