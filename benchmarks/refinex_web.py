"""RefineX on real web pages (not a test): the line classifier against keep-all, C4 rules and trafilatura.

Reads the 161 English pages with snippet gold in ``../shared/webpages`` (evaluation only: nothing of
them is written into the repository; the work folder defaults to the system's temp folder). Pages
are split by a fixed hash of their id (:func:`split_half`) into a train half and a dev half.

1. **Train half.** Each page becomes its visible text (Resiliparse, boilerplate kept); the expert
   is trafilatura (``favor_recall=True``) on the HTML, projected onto the page's lines and distilled
   into a deletion program through ``proda refine distill --expert trafilatura`` (reliability filter
   included). The line classifier is trained on those programs only (never on the gold snippets),
   with synthetic noisy textbook excerpts and synthetic pages (train-half pages whose article is
   replaced by a textbook excerpt: :mod:`proda.pipelines.refine.page_synthesis`).
2. **Dev half.** Every method runs on the same visible text (trafilatura on the HTML): share of
   ``with`` snippets kept and of ``without`` snippets removed, after lower-casing and collapsing
   whitespace, and pages per second on one core (process CPU time; torch on one thread). The
   classifier's threshold is chosen here, on dev; there is no separate test half of these pages.
3. **Downstream** (``benchmarks/refinex_downstream.py``): the test chunks of the hand-annotated
   extraction gold set (data/gold) dressed with the lines the expert removed on the train half (the
   classifier reads the text alone), and dressed as train-half pages (it reads their HTML),
   extracted by the offline backends clean, noisy and noisy-then-refined at the threshold chosen on
   dev, scored against the gold triples with paired bootstrap intervals.
4. **Throughput** (``--throughput N``): N pages resampled and mutated from all 161 (written to the
   work folder only) refined by ``proda refine run``'s stage with the classifier, sharded.

Run::

    .venv/bin/python benchmarks/refinex_web.py                         # distill, train, dev table, downstream
    .venv/bin/python benchmarks/refinex_web.py --converters            # Resiliparse against inscriptis
    .venv/bin/python benchmarks/refinex_web.py --model /tmp/proda-refinex-web/model --throughput 10000 --shards 2
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from common import package_versions

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT.parent / "shared" / "webpages" / "trafilatura-eval-en.jsonl.gz"
SAMPLE = ROOT / "data" / "sample"
SPLIT_SALT = "refinex-web:"
JOINT_THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
"""Confidence levels at which the classifier, beside its expert, keeps a line the expert drops (1.0: the
expert alone, projected onto the lines)."""
T = TypeVar("T")
# what the figures depend on beyond the code: the converter, the expert, the encoder and the numerics
VERSIONED = ("resiliparse", "trafilatura", "lxml", "torch", "transformers", "sentence-transformers", "numpy")


def split_half(page_id: str) -> str:
    """``train`` or ``dev``: the first byte of sha256("refinex-web:" + id) below 128 is train."""
    return "train" if hashlib.sha256((SPLIT_SALT + page_id).encode()).digest()[0] < 128 else "dev"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def snippet_score(pages: Sequence[dict[str, Any]], outputs: Sequence[str]) -> tuple[float, float]:
    """(share of ``with`` snippets kept, share of ``without`` snippets removed) over all pages."""
    kept = removed = n_with = n_without = 0
    for page, out in zip(pages, outputs, strict=True):
        text = _norm(out)
        for s in page["with"]:
            n_with += 1
            kept += _norm(s) in text
        for s in page["without"]:
            n_without += 1
            removed += _norm(s) not in text
    return kept / max(n_with, 1), removed / max(n_without, 1)


def c4_lines() -> Callable[[str], str]:
    """datatrove's C4QualityFilter line rules (default settings) as a text -> text function."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import C4QualityFilter

    c4 = C4QualityFilter()

    def run(raw: str) -> str:
        doc = Document(text=raw, id="x")
        result = c4.filter(doc)
        keep = result[0] if isinstance(result, tuple) else result
        return doc.text if keep else ""

    return run


def timed(fn: Callable[[Any], T], items: Sequence[Any]) -> tuple[list[T], float]:
    """(outputs, pages per CPU second of this process)."""
    started = time.process_time()
    outs = [fn(x) for x in items]
    return outs, len(items) / max(time.process_time() - started, 1e-9)


# -- 0. the HTML converter ----------------------------------------------------------------------------------


def compare_converters(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resiliparse (as ProDa runs it) against inscriptis on every page: keep-everything scores, CPU
    seconds, lines per page."""
    from proda.pipelines.ingest.html import html_to_text

    converters: dict[str, Callable[[str], str]] = {"resiliparse": lambda html: html_to_text(html).text}
    try:
        from inscriptis import get_text

        converters["inscriptis"] = get_text
    except ImportError:
        print("inscriptis is not installed: `pip install inscriptis` to compare")
    rows = []
    for name, convert in converters.items():
        started = time.process_time()
        texts = [convert(p["html"]) for p in pages]
        seconds = time.process_time() - started
        w, wo = snippet_score(pages, texts)
        lines = [x for t in texts for x in t.split("\n")]
        rows.append({"converter": name, "with_kept": round(w, 3), "without_removed": round(wo, 3),
                     "cpu_seconds": round(seconds, 2), "mb": round(sum(len(p["html"]) for p in pages) / 1e6, 1),
                     "lines_per_page": round(len(lines) / len(pages), 1),
                     "indented_line_share": round(sum(1 for x in lines if x[:1] == " ") / max(len(lines), 1), 3)})
    return rows


# -- 1. expert programs on the train half, and the classifier --------------------------------------------


def distill_train(train: list[dict[str, Any]], work: Path, home: Path, favour: str, augment: int = 0) -> Path:
    """Distill the train half with the trafilatura expert at operating point ``favour``; returns the
    documents.jsonl path. ``augment`` adds that many variants of train pages (a random run of blocks
    dropped or repeated, as :func:`mutate_pages` makes them), each distilled by the same expert: the
    classifier sees the same sites in more layouts, and still nothing of the dev half."""
    from proda.pipelines.refine.config import DistillConfig
    from proda.pipelines.refine.distill_stage import run_distill

    pages = work / "train-pages.jsonl"
    with pages.open("w", encoding="utf-8") as f:
        for p in train:
            f.write(json.dumps({"id": p["id"], "html": p["html"]}, ensure_ascii=False) + "\n")
    if augment:
        variants = work / "train-variants.jsonl"
        mutate_pages(train, augment, variants, seed=1, prefix="variant")
        with pages.open("a", encoding="utf-8") as f:
            f.write(variants.read_text(encoding="utf-8"))
    out = work / (f"distill-{favour}" + (f"-aug{augment}" if augment else ""))
    report = run_distill([pages], out, DistillConfig(expert="trafilatura", trafilatura_favour=favour), home)
    print(f"distilled {report.records} train pages: {report.reliable} reliable, {report.discarded} discarded "
          f"{report.discard_reasons or ''}")
    return out / "documents.jsonl"


def synthetic_documents(n: int, work: Path, exclude: set[str], seed: int = 0) -> Path:
    """``n`` noisy textbook excerpts (pipelines/refine/noise.py, train-half templates) with their oracle
    programs, from the shared OpenStax corpus less the modules in ``exclude``; returns the JSONL path."""
    from proda.pipelines.refine.distill import distill
    from proda.pipelines.refine.noise import NoiseGenerator, excerpts

    corpus = ROOT.parent / "shared" / "corpus" / "openstax-cc-by.jsonl"
    rng = random.Random(seed)
    noise = NoiseGenerator("train", seed=seed)
    path = work / "synthetic-documents.jsonl"
    written = 0
    with path.open("w", encoding="utf-8") as f:
        for line in corpus.open(encoding="utf-8"):
            r = json.loads(line)
            if r["id"] in exclude or written >= n:
                continue
            for k, text in enumerate(excerpts(r["text"], max_chars=3000, rng=rng, count=1)):
                doc = noise.document(f"{r['id']}#{k}", text, title=r.get("title", ""), book=r.get("book", ""))
                program = distill(doc.raw, doc.clean).program.render()
                f.write(json.dumps({"id": doc.id, "text": doc.raw, "program": program, "expert": "synthetic-oracle"},
                                   ensure_ascii=False) + "\n")
                written += 1
    return path


def synthetic_page_documents(n: int, work: Path, distilled: Path, exclude: set[str], seed: int = 0) -> Path:
    """``n`` train-half pages (from ``distilled``, the expert's documents.jsonl) with their article replaced
    by an excerpt of the shared OpenStax corpus less the modules in ``exclude``
    (:mod:`proda.pipelines.refine.page_synthesis`); returns the JSONL path."""
    from proda.pipelines.refine.noise import excerpts
    from proda.pipelines.refine.page_synthesis import labelled_pages, synthetic_pages

    corpus = ROOT.parent / "shared" / "corpus" / "openstax-cc-by.jsonl"
    rng = random.Random(seed + 17)
    modules = [r for r in (json.loads(x) for x in corpus.open(encoding="utf-8")) if r["id"] not in exclude]
    articles = [excerpts(rng.choice(modules)["text"], max_chars=3000, rng=rng, count=1)[0].split("\n")
                for _ in range(n)]
    records = synthetic_pages(labelled_pages([distilled]), articles, n, seed=seed)
    path = work / f"synthetic-pages-{n}.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def train_classifier(documents: list[Path], work: Path, home: Path, encoder: str, epochs: int,
                     threshold: float | None, markup_dropout: float) -> Path:
    from proda.training.refine_classifier import RefineClassifierConfig, train_refine_classifier

    config = RefineClassifierConfig(documents=tuple(str(p) for p in documents), output_dir=str(work / "model"),
                                    encoder=encoder, epochs=epochs, markup_dropout=markup_dropout)
    if threshold is not None:
        config.threshold = threshold
    report = train_refine_classifier(config, home)
    print(f"trained the classifier ({encoder} encoder) on {report.documents} documents, {report.lines} lines "
          f"({report.removed_share:.0%} removed) in {report.seconds:.0f} s; loss {report.losses[0]:.3f} -> "
          f"{report.losses[-1]:.3f}")
    return Path(report.output_dir)


# -- 3. downstream extraction: benchmarks/refinex_downstream.py (run from main below) ----------------------


# -- 4. throughput ---------------------------------------------------------------------------------------


def mutate_pages(pages: list[dict[str, Any]], n: int, path: Path, seed: int = 0, prefix: str = "page") -> int:
    """Write ``n`` pages resampled from ``pages`` (each with a random run of its blocks dropped or repeated);
    returns the bytes written."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for k in range(n):
            p = rng.choice(pages)
            html = p["html"]
            cut = [m.start() for m in re.finditer(r"<(?:p|div|li)\b", html)]
            if len(cut) > 4:
                a, b = sorted(rng.sample(cut, 2))
                html = html[:a] + html[b:] if rng.random() < 0.5 else html[:b] + html[a:b] + html[b:]
            f.write(json.dumps({"id": f"{prefix}-{k:05d}", "html": html}, ensure_ascii=False) + "\n")
    return path.stat().st_size


def throughput(pages: list[dict[str, Any]], n: int, model: Path, work: Path, home: Path, shards: int,
               executor: str) -> dict[str, Any]:
    from proda.pipelines.refine.config import RefineConfig
    from proda.pipelines.refine.stage import run_refine

    corpus = work / f"pages-{n}.jsonl"
    size = mutate_pages(pages, n, corpus)
    out = work / f"refined-{n}"
    config = RefineConfig(source="classifier", model=str(model), shards=shards, executor=executor, batch_size=32)
    started = time.perf_counter()
    report = run_refine([corpus], out, config, home)
    seconds = time.perf_counter() - started
    total = report.total()
    issues: dict[str, int] = {}
    for s in report.shards:
        for k, v in s.issues.items():
            issues[k] = issues.get(k, 0) + v
    return {"pages": total["documents"] + total["rejected"], "documents": total["documents"],
            "rejected": total["rejected"], "seconds": round(seconds, 1), "pages_per_s": round(n / seconds, 2),
            "mb_per_s": round(size / seconds / 1e6, 2), "input_mb": round(size / 1e6, 1), "shards": shards,
            "executor": executor, "issues": issues, "lines_removed_share":
            round(total["lines_removed"] / max(total["lines_in"], 1), 3)}


# -- main --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=Path, default=PAGES)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "proda-refinex-web")
    parser.add_argument("--home", type=Path, default=None, help="PRODA_HOME (encoder cache); default WORK/home")
    parser.add_argument("--encoder", default="static", choices=("static", "full"))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--favour", default="recall", choices=("recall", "balanced", "precision"),
                        help="the trafilatura expert's operating point for the training programs")
    parser.add_argument("--markup-dropout", type=float, default=0.25, help="share of training steps on a page "
                        "that hide its markup features")
    parser.add_argument("--synthetic", type=int, default=150, help="add this many synthetic noisy textbook excerpts "
                        "(pipelines/refine/noise.py, modules of data/sample and data/gold excluded) to the training "
                        "documents")
    parser.add_argument("--synthetic-pages", type=int, default=150, help="add this many train-half pages whose article "
                        "is replaced by a synthetic excerpt's text (pipelines/refine/page_synthesis.py)")
    parser.add_argument("--augment", type=int, default=0, help="also train on this many distilled variants of "
                        "train pages (a random run of blocks dropped or repeated)")
    parser.add_argument("--model", type=Path, default=None, help="use this trained classifier instead of training")
    parser.add_argument("--throughput", type=int, default=0, help="also refine this many resampled pages")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--executor", default="local", choices=("local", "ray"))
    parser.add_argument("--one-core", action="store_true", help="pin this process to CPU 0 (like taskset -c 0)")
    parser.add_argument("--threshold", type=float, default=None, help="train with this stored threshold "
                        "(default: the training config's); the dev table also sweeps thresholds")
    parser.add_argument("--no-downstream", action="store_true", help="skip the downstream extraction table")
    parser.add_argument("--converters", action="store_true", help="only compare the HTML converters on all pages")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.one_core and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    from proda.pipelines.ingest.html import html_to_text
    from proda.pipelines.refine.classifier import LineClassifier, joint_decisions, keep_decisions
    from proda.pipelines.refine.config import FAVOURS
    from proda.pipelines.refine.content_expert import MainContentExpert, expert_kept_lines

    if not args.pages.is_file():
        print(f"no pages at {args.pages}", file=sys.stderr)
        return 2
    with gzip.open(args.pages, "rt", encoding="utf-8") as f:
        pages = [json.loads(line) for line in f]
    if args.converters:
        for r in compare_converters(pages):
            print(r)
        return 0
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    home = args.home or work / "home"
    train = [p for p in pages if split_half(p["id"]) == "train"]
    dev = [p for p in pages if split_half(p["id"]) == "dev"]
    print(f"{len(pages)} pages: {len(train)} train, {len(dev)} dev (split by sha256 of '{SPLIT_SALT}' + id)")

    if args.model is None:
        documents = [distill_train(train, work, home, args.favour, args.augment)]
        sample_ids = {json.loads(x)["id"] for name in ("corpus.jsonl", "documents.jsonl")
                      for x in (SAMPLE / name).open(encoding="utf-8")}
        sample_ids |= {json.loads(x).get("source_id", "") for x in (SAMPLE / "knowledge.jsonl").open()}
        # the downstream table dresses the gold chunks: their modules stay out of training too
        sample_ids |= {json.loads(x)["source_id"] for x in (ROOT / "data" / "gold" / "pool.jsonl").open()}
        if args.synthetic:
            documents.append(synthetic_documents(args.synthetic, work, sample_ids))
        if args.synthetic_pages:
            documents.append(synthetic_page_documents(args.synthetic_pages, work, documents[0], sample_ids))
        model_dir = train_classifier(documents, work, home, args.encoder, args.epochs, args.threshold,
                                     args.markup_dropout)
    else:
        model_dir = args.model
    classifier = LineClassifier.load(model_dir, home)

    versions = package_versions(VERSIONED)
    print("installed: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    results: dict[str, Any] = {"train_pages": len(train), "dev_pages": len(dev), "encoder": classifier.spec.encoder,
                               "versions": versions}
    texts, convert_rate = timed(lambda p: html_to_text(p["html"]).text, dev)
    rows: list[dict[str, Any]] = []

    def row(name: str, outs: list[str], rate: float) -> None:
        w, wo = snippet_score(dev, outs)
        rows.append({"method": name, "with_kept": round(w, 3), "without_removed": round(wo, 3),
                     "pages_per_s": round(rate, 1)})

    convert_s = 1 / convert_rate
    row("keep everything (visible text)", texts, convert_rate)
    c4 = c4_lines()
    outs, rate = timed(c4, texts)
    row("datatrove C4QualityFilter line rules", outs, 1 / (convert_s + 1 / rate))
    extracted: dict[str, list[str]] = {}
    for favour in FAVOURS:
        expert = MainContentExpert(favour=favour)
        outs, rate = timed(lambda p, e=expert: e.extract(p["html"]), dev)  # type: ignore[misc]
        extracted[favour] = outs
        row(f"trafilatura, {favour} (on the HTML)", outs, rate)
    htmls: list[str | None] = [p["html"] for p in dev]
    alone = LineClassifier(replace(classifier.spec, expert=""), classifier.heads, classifier.encoder)
    joint = LineClassifier(replace(classifier.spec, expert=classifier.spec.expert or "recall"), classifier.heads,
                           classifier.encoder)
    # each model's full path (HTML -> decisions -> fail-closed programs) timed on every dev page; the sweeps
    # below decide every threshold from the same probabilities
    alone.programs(texts[:3], htmls[:3])  # warm-up: token vectors of new tokens, first torch call
    pairs = list(zip(texts, htmls, strict=True))
    programs, model_rate = timed(lambda th: alone.programs([th[0]], [th[1]])[0], pairs)
    joint_programs, joint_rate = timed(lambda th: joint.programs([th[0]], [th[1]])[0], pairs)
    thresholds = [round(0.05 * k, 2) for k in range(1, 17)]

    def score_decisions(decided: list[list[bool]]) -> tuple[float, float]:
        return snippet_score(dev, ["\n".join(line for line, k in zip(t.split("\n"), d, strict=True) if k)
                                   for t, d in zip(texts, decided, strict=True)])

    def sweep_of(probs: list[Any]) -> list[dict[str, Any]]:
        out = []
        for threshold in thresholds:
            w, wo = score_decisions([keep_decisions(t.split("\n"), pr, threshold)
                                     for t, pr in zip(texts, probs, strict=True)])
            out.append({"threshold": threshold, "with_kept": round(w, 3), "without_removed": round(wo, 3)})
        return out

    html_probs = [classifier.probabilities(t, h) for t, h in zip(texts, htmls, strict=True)]
    sweep = sweep_of(html_probs)
    text_sweep = sweep_of([classifier.probabilities(t) for t in texts])
    # the threshold closest to meeting both targets: the largest smaller margin to them, and on a tie the
    # larger sum of margins (a point no worse on one figure and better on the other)
    def margins(s: dict[str, Any]) -> tuple[float, float]:
        w, wo = s["with_kept"] - 0.95, s["without_removed"] - 0.85
        return min(w, wo), w + wo

    chosen = max(sweep, key=margins)
    text_chosen = max(text_sweep, key=margins)
    # the classifier beside its expert: each operating point's lines, and the confidence at which the
    # classifier keeps a line the expert drops
    expert_lines = {favour: [expert_kept_lines(t, x) for t, x in zip(texts, outs, strict=True)]
                    for favour, outs in extracted.items()}

    def joint_sweep_of(probs: list[Any], favour: str) -> list[dict[str, Any]]:
        out = []
        for threshold in JOINT_THRESHOLDS:
            w, wo = score_decisions([joint_decisions(t.split("\n"), pr, kept, chosen["threshold"], threshold)
                                     for t, pr, kept in zip(texts, probs, expert_lines[favour], strict=True)])
            out.append({"expert": favour, "threshold": threshold, "with_kept": round(w, 3),
                        "without_removed": round(wo, 3)})
        return out

    joint_sweep = [x for favour in FAVOURS for x in joint_sweep_of(html_probs, favour)]
    joint_chosen = max(joint_sweep, key=margins)
    rows.append({"method": f"ProDa line classifier alone (threshold {chosen['threshold']}, chosen on dev)",
                 "with_kept": chosen["with_kept"],
                 "without_removed": chosen["without_removed"],
                 "pages_per_s": round(1 / (convert_s + 1 / model_rate), 1)})
    rows.append({"method": f"ProDa classifier at {joint_chosen['threshold']} + trafilatura "
                           f"{joint_chosen['expert']} (chosen on dev)", "with_kept": joint_chosen["with_kept"],
                 "without_removed": joint_chosen["without_removed"],
                 "pages_per_s": round(1 / (convert_s + 1 / joint_rate), 1)})
    members = []
    if len(classifier.heads) > 1:  # how far one head alone lands from the ensemble, at the chosen thresholds
        for k, head in enumerate(classifier.heads):
            single = LineClassifier(replace(classifier.spec, members=1), [head], classifier.encoder)
            probs = [single.probabilities(t, h) for t, h in zip(texts, htmls, strict=True)]
            at = next(x for x in sweep_of(probs) if x["threshold"] == chosen["threshold"])
            at_joint = next(x for x in joint_sweep_of(probs, joint_chosen["expert"])
                            if x["threshold"] == joint_chosen["threshold"])
            members.append({"member": k, "with_kept": at["with_kept"], "without_removed": at["without_removed"],
                            "joint_with_kept": at_joint["with_kept"],
                            "joint_without_removed": at_joint["without_removed"]})
    results["members"] = members
    rows.append({"method": f"the same classifier on the text alone (no HTML; threshold {text_chosen['threshold']})",
                 "with_kept": text_chosen["with_kept"], "without_removed": text_chosen["without_removed"],
                 "pages_per_s": None})
    from proda.pipelines.refine.interpreter import execute, is_subsequence

    # the stored model's own output path (its thresholds, and its expert when it keeps one)
    stored = joint_programs if classifier.spec.expert else programs
    outs = [execute(mp.program, t).text for mp, t in zip(stored, texts, strict=True)]
    inserted = sum(not is_subsequence(o, t) for o, t in zip(outs, texts, strict=True))
    malformed = sum(mp.issues.get("malformed_program", 0) for mp in stored)
    w, wo = snippet_score(dev, outs)
    results.update(dev=rows, sweep=sweep, text_sweep=text_sweep, chosen_threshold=chosen["threshold"],
                   joint_sweep=joint_sweep, joint_chosen=joint_chosen,
                   favour=classifier.spec.training.get("experts"),
                   model_path={"threshold": classifier.spec.threshold, "expert": classifier.spec.expert,
                               "expert_threshold": classifier.spec.expert_threshold, "with_kept": round(w, 3),
                               "without_removed": round(wo, 3), "programs_inserting_text": inserted,
                               "malformed_programs": malformed})
    print(f"\ndev half ({len(dev)} pages); pages/s on one core (process CPU time, HTML -> text included)")
    print(f"{'method':<72} {'with kept':>9} {'w/o removed':>11} {'pages/s':>8}")
    for r in rows:
        rate_text = "-" if r["pages_per_s"] is None else f"{r['pages_per_s']:.1f}"
        print(f"{r['method']:<72} {r['with_kept']:>9.3f} {r['without_removed']:>11.3f} {rate_text:>8}")
    for name, points in (("threshold sweep (with HTML)", sweep), ("threshold sweep (text alone)", text_sweep)):
        print(f"{name}:", ", ".join(f"{s['threshold']}: {s['with_kept']:.3f}/{s['without_removed']:.3f}"
                                    for s in points))
    for favour in FAVOURS:
        print(f"beside trafilatura {favour}, the classifier's threshold:", ", ".join(
            f"{s['threshold']}: {s['with_kept']:.3f}/{s['without_removed']:.3f}"
            for s in joint_sweep if s["expert"] == favour))
    if members:
        print(f"each head alone at threshold {chosen['threshold']}: " + ", ".join(
            f"{m['with_kept']:.3f}/{m['without_removed']:.3f}" for m in members))
        print(f"each head beside trafilatura {joint_chosen['expert']} at {joint_chosen['threshold']}: " + ", ".join(
            f"{m['joint_with_kept']:.3f}/{m['joint_without_removed']:.3f}" for m in members))
    # where the refine model and its expert disagree, snippet by snippet (what the union buys and costs)
    expert_of = expert_lines[joint_chosen["expert"]]
    differ = []
    for page, text, pr, kept in zip(dev, texts, html_probs, expert_of, strict=True):
        lines = text.split("\n")
        both = joint_decisions(lines, pr, kept, chosen["threshold"], joint_chosen["threshold"])
        mine = _norm("\n".join(line for line, k in zip(lines, both, strict=True) if k))
        theirs = _norm("\n".join(line for line, k in zip(lines, kept or [False] * len(lines), strict=True) if k))
        for kind, snippets in (("with", page["with"]), ("without", page["without"])):
            for snippet in snippets:
                if (_norm(snippet) in mine) != (_norm(snippet) in theirs):
                    differ.append({"page": page["id"], "kind": kind, "model_keeps": _norm(snippet) in mine,
                                   "snippet": snippet[:80]})
    results["differ_from_expert"] = differ
    print(f"snippets the refine model decides otherwise than trafilatura {joint_chosen['expert']} alone:")
    for d in differ:
        print(f"  {d['kind']:<7} {'kept' if d['model_keeps'] else 'removed':<7} {d['page']}: {d['snippet']!r}")
    expert_text = (f", beside trafilatura {classifier.spec.expert} at {classifier.spec.expert_threshold}"
                   if classifier.spec.expert else "")
    print(f"model output path at its stored threshold {classifier.spec.threshold}{expert_text}: {w:.3f}/{wo:.3f}; "
          f"{inserted} programs inserting text, {malformed} malformed (failed closed)")

    # downstream, on the gold set's test chunks, at the threshold chosen on dev: the chunks dressed with the
    # lines the expert's programs removed on the train half, and dressed as train-half pages
    documents = work / (f"distill-{args.favour}" + (f"-aug{args.augment}" if args.augment else "")) / "documents.jsonl"
    if documents.is_file() and not args.no_downstream:
        from refinex_downstream import downstream, print_table, refiner_of, removed_lines, train_pages

        # text without HTML (the lines dressing) is decided by the classifier alone, a page beside its expert
        refine = refiner_of(classifier, chosen["threshold"], expert=joint_chosen["expert"],
                            expert_threshold=joint_chosen["threshold"])
        boilerplate = removed_lines(documents)
        results["downstream"] = {}
        for dress, pages_pool in (("lines", []), ("page", train_pages(documents))):
            down = downstream(boilerplate, refine, pages=pages_pool, splits=("test",),
                              backends=("dependency", "heuristic"))
            down["refiner"].update(threshold=chosen["threshold"], expert=joint_chosen["expert"],
                                   expert_threshold=joint_chosen["threshold"])
            results["downstream"][dress] = down
            print()
            print_table(down)
    if args.throughput:
        tp = throughput(pages, args.throughput, model_dir, work, home, args.shards, args.executor)
        results["throughput"] = tp
        print(f"\nthroughput: {tp['pages']} pages ({tp['input_mb']} MB of HTML) in {tp['seconds']} s with "
              f"{tp['shards']} shards on {tp['executor']}: {tp['pages_per_s']} pages/s, {tp['mb_per_s']} MB/s; "
              f"issues {tp['issues']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    _ = np  # numpy is the classifier's array type; imported here so a missing install fails early
    return 0


if __name__ == "__main__":
    sys.exit(main())
