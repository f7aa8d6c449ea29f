"""RefineX noisy-corpus benchmark (not a test).

Builds a noisy corpus from the shared OpenStax corpus (pipelines/refine/noise.py): excerpts of
textbook modules are dressed as web pages (menus, cookie and share banners, running headers, page
numbers, copyright lines, ads, in-line ad snippets, broken hyphenation, duplicated lines) with known
positions, so the clean excerpt is the expert refinement. Corpus documents are split by id hash
into a train and an evaluation part; train documents get the *train* half of the noise templates,
evaluation documents the *held-out* half. Reports on the held-out documents:

* line- and character-level deletion precision / recall / F1 and the share of clean text preserved
  (pipelines/refine/scoring.py) for
  (a) the refine model (``--model DIR``, or trained here with ``--train-steps N``),
  (b) datatrove's rule-based filters as the baseline: ``C4QualityFilter`` (line rules, default
      settings), ``GopherQualityFilter`` (document rules) and both in FineWeb's order,
  (c) the oracle program (distilled from the clean text);
* executor throughput (MB/s on one core, oracle programs on the noisy excerpts and on whole noised
  modules) and the model's documents/s.

Run::

    .venv/bin/python benchmarks/refinex.py                                   # baseline + oracle, ~1 min
    .venv/bin/python benchmarks/refinex.py --train-steps 30 --model-docs 40  # + train and score SmolLM2
    .venv/bin/python benchmarks/refinex.py --model .proda/models/refine-bench --model-docs 40
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from proda.pipelines.refine.distill import distill
from proda.pipelines.refine.interpreter import execute, is_subsequence
from proda.pipelines.refine.model import RefineModel, TransformersGenerator, ViewConfig, dump_records, training_records
from proda.pipelines.refine.noise import NoiseGenerator, NoisyDocument, excerpts
from proda.pipelines.refine.program import Program
from proda.pipelines.refine.scoring import Score, score

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "openstax-cc-by.jsonl"
RESULTS = Path(__file__).resolve().parent / "results" / "refinex.json"


def split_of(doc_id: str, eval_share: float) -> str:
    """Deterministic document split by id hash: no corpus text is in both parts."""
    h = int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "eval" if h < eval_share else "train"


def build(corpus: Path, *, max_chars: int, per_doc: int, seed: int, eval_share: float,
          limit_train: int, limit_eval: int) -> tuple[list[NoisyDocument], list[NoisyDocument], list[NoisyDocument]]:
    """(train docs with train-half noise, held-out eval docs, whole eval modules for throughput)."""
    rng = random.Random(seed)
    generators = {"train": NoiseGenerator("train", seed=seed), "eval": NoiseGenerator("heldout", seed=seed)}
    whole_gen = NoiseGenerator("heldout", seed=seed + 1, p_clean=0.0, p_junk=0.0)
    out: dict[str, list[NoisyDocument]] = {"train": [], "eval": []}
    whole: list[NoisyDocument] = []
    for line in corpus.open(encoding="utf-8"):
        rec = json.loads(line)
        part = split_of(rec["id"], eval_share)
        for k, text in enumerate(excerpts(rec["text"], max_chars=max_chars, rng=rng, count=per_doc)):
            out[part].append(generators[part].document(f"{rec['id']}#{k}", text, title=rec.get("title", ""),
                                                       book=rec.get("book", "")))
        if part == "eval":
            whole.append(whole_gen.document(rec["id"], rec["text"], title=rec.get("title", ""),
                                            book=rec.get("book", "")))
    return out["train"][:limit_train], out["eval"][:limit_eval], whole


# -- (b) datatrove's rule-based filters ----------------------------------------------------------------


def datatrove_method(name: str) -> Any:
    """A function raw -> (output, deleted line indices) applying datatrove filters, or None without datatrove."""
    try:
        from datatrove.data import Document
        from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter
        from datatrove.pipeline.filters.c4_filters import CITATION_REGEX
    except ImportError:
        return None
    c4 = C4QualityFilter()
    gopher = GopherQualityFilter()

    def c4_lines(raw: str) -> tuple[str, list[int]]:
        doc = Document(text=raw, id="x")
        result = c4.filter(doc)
        keep = result[0] if isinstance(result, tuple) else result
        lines = raw.split("\n")
        if not keep:
            return "", list(range(len(lines)))
        # C4 strips kept lines and deletes citation marks: map its output lines back to raw lines in order
        out_lines = doc.text.split("\n")
        removed: list[int] = []
        j = 0
        for i, line in enumerate(lines):
            if j < len(out_lines) and CITATION_REGEX.sub("", line.strip()) == out_lines[j]:
                j += 1
            else:
                removed.append(i)
        return doc.text, removed

    def gopher_doc(raw: str) -> tuple[str, list[int]]:
        result = gopher.filter(Document(text=raw, id="x"))
        keep = result[0] if isinstance(result, tuple) else result
        return (raw, []) if keep else ("", list(range(raw.count("\n") + 1)))

    def both(raw: str) -> tuple[str, list[int]]:
        out, removed = gopher_doc(raw)
        return (out, removed) if removed else c4_lines(raw)

    return {"c4": c4_lines, "gopher": gopher_doc, "gopher+c4": both}[name]


# -- executor throughput -------------------------------------------------------------------------------


def executor_mb_s(pairs: list[tuple[Program, str]], min_seconds: float = 1.0) -> float:
    """MB/s of the executor over (program, text) pairs, repeated for at least ``min_seconds`` (one thread)."""
    size = sum(len(t.encode("utf-8")) for _, t in pairs)
    rounds = 0
    started = time.perf_counter()
    while True:
        for program, text in pairs:
            execute(program, text)
        rounds += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return size * rounds / elapsed / 1e6


# -- (a) the refine model ------------------------------------------------------------------------------


def train_model(train_docs: list[NoisyDocument], view: ViewConfig, steps: int, home: Path,
                out_dir: Path) -> dict[str, Any]:
    from proda.training.refine_sft import RefineSFTConfig, train_refine_model

    records: list[dict[str, Any]] = []
    for d in train_docs:
        records.extend(training_records(d.id, d.raw, distill(d.raw, d.clean).program, view))
    random.Random(0).shuffle(records)
    data = out_dir.with_name(out_dir.name + "-train.jsonl")
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text(dump_records(records))
    config = RefineSFTConfig(train_file=str(data), output_dir=str(out_dir), max_steps=steps,
                             per_device_train_batch_size=4, learning_rate=2e-4, logging_steps=5, max_length=768)
    report = train_refine_model(config, home)
    return {"records": len(records), "steps": report.steps, "seconds": round(report.seconds, 1),
            "loss_first": report.losses[0] if report.losses else None,
            "loss_last": report.losses[-1] if report.losses else None, "train_tokens": report.train_tokens}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--max-chars", type=int, default=1200, help="clean excerpt size per document")
    ap.add_argument("--per-doc", type=int, default=2, help="excerpts per corpus module")
    ap.add_argument("--eval-share", type=float, default=0.3, help="share of corpus modules held out")
    ap.add_argument("--eval-docs", type=int, default=400, help="held-out documents scored")
    ap.add_argument("--train-docs", type=int, default=600, help="train documents distilled for training")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", type=Path, help="a trained refine model folder to score")
    ap.add_argument("--train-steps", type=int, default=0, help="train the refine model here first (0: do not)")
    ap.add_argument("--model-docs", type=int, default=40, help="held-out documents the model refines (CPU is slow)")
    ap.add_argument("--max-window-chars", type=int, default=1500)
    ap.add_argument("--max-line-chars", type=int, default=160)
    ap.add_argument("--max-new-tokens", type=int, default=96, help="program tokens per window")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 leaves the other core to the graph "
                    "server and other jobs on a 2-core machine)")
    ap.add_argument("--home", type=Path, default=Path(".proda"))
    ap.add_argument("--json", type=Path, default=RESULTS, help="where to write the figures")
    args = ap.parse_args(argv)
    if not args.corpus.is_file():
        print(f"corpus not found: {args.corpus} (pass --corpus)", file=sys.stderr)
        return 2

    if args.train_steps > 0 or args.model is not None:
        import torch

        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    train_docs, eval_docs, whole = build(args.corpus, max_chars=args.max_chars, per_doc=args.per_doc, seed=args.seed,
                                         eval_share=args.eval_share, limit_train=args.train_docs,
                                         limit_eval=args.eval_docs)
    results: dict[str, Any] = {
        "command": "python benchmarks/refinex.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "corpus": {"train_docs": len(train_docs), "eval_docs": len(eval_docs), "max_chars": args.max_chars,
                   "eval_noise_chars_share": round(sum(len(d.raw) - len(d.clean) for d in eval_docs)
                                                   / max(1, sum(len(d.raw) for d in eval_docs)), 4),
                   "build_seconds": round(time.perf_counter() - t0, 2)},
        "methods": {}}
    methods: dict[str, Score] = {}

    # (c) the oracle
    oracle = [(d, distill(d.raw, d.clean)) for d in eval_docs]
    runs = [(d, execute(x.program, d.raw)) for d, x in oracle]
    assert all(is_subsequence(r.text, d.raw) for d, r in runs)
    methods["oracle program"] = score((d, r.text, r.removed_lines) for d, r in runs)

    # (b) datatrove's rules
    for name in ("c4", "gopher", "gopher+c4"):
        fn = datatrove_method(name)
        if fn is None:
            results["methods"][f"datatrove {name}"] = "datatrove not installed (pip install 'proda[refine]')"
            continue
        outputs = [(d, *fn(d.raw)) for d in eval_docs]
        methods[f"datatrove {name}"] = score(outputs)

    # (a) the refine model
    view = ViewConfig(max_window_chars=args.max_window_chars, max_line_chars=args.max_line_chars)
    model_dir = args.model
    if args.train_steps > 0:
        model_dir = args.home / "models" / "refine-bench"
        results["training"] = train_model(train_docs, view, args.train_steps, args.home, model_dir)
    if model_dir is not None:
        model = RefineModel(TransformersGenerator(str(model_dir), batch_size=4, max_new_tokens=args.max_new_tokens,
                                                  home=args.home), view)
        subset = eval_docs[:args.model_docs]
        started = time.perf_counter()
        programs = model.programs([d.raw for d in subset])
        seconds = time.perf_counter() - started
        model_runs = [(d, execute(p.program, d.raw)) for d, p in zip(subset, programs, strict=True)]
        assert all(is_subsequence(r.text, d.raw) for d, r in model_runs)
        methods["refine model"] = score((d, r.text, r.removed_lines) for d, r in model_runs)
        failed = sum(1 for p in programs if p.issues.get("malformed_program"))
        issues: Counter[str] = Counter()
        for p in programs:
            issues.update(p.issues)
        results["model"] = {"folder": str(model_dir), "documents": len(subset),
                            "docs_per_s": round(len(subset) / seconds, 4), "failed_closed_docs": failed,
                            "issues": dict(issues)}
        # the same documents for the other methods, so the comparison is like for like
        for name in list(methods):
            if name == "refine model":
                continue
            if name == "oracle program":
                sub = [(d, r.text, r.removed_lines) for d, r in runs[:len(subset)]]
            else:
                fn = datatrove_method(name.split(" ", 1)[1])
                sub = [(d, *fn(d.raw)) for d in subset]
            methods[f"{name} (model subset)"] = score(sub)

    for name, s in methods.items():
        results["methods"][name] = s.as_dict()

    # throughput
    results["executor_mb_s"] = {
        "noisy_excerpts": round(executor_mb_s([(x.program, d.raw) for d, x in oracle]), 1),
        "whole_modules": round(executor_mb_s([(distill(d.raw, d.clean).program, d.raw) for d in whole]), 1),
        "keep_doc": round(executor_mb_s([(Program(), d.raw) for d in whole]), 1)}
    results["seconds"] = round(time.perf_counter() - t0, 1)

    print(f"held-out documents: {len(eval_docs)} (noise is {results['corpus']['eval_noise_chars_share']:.1%} of "
          f"characters); train documents: {len(train_docs)}")
    header = f"{'method':<36}{'line P':>8}{'line R':>8}{'line F1':>8}{'char P':>8}{'char R':>8}{'char F1':>8}" \
             f"{'clean kept':>11}{'docs':>6}"
    print(header)
    for name, s in methods.items():
        d = s.as_dict()
        print(f"{name:<36}{d['line_precision']:>8.3f}{d['line_recall']:>8.3f}{d['line_f1']:>8.3f}"
              f"{d['char_precision']:>8.3f}{d['char_recall']:>8.3f}{d['char_f1']:>8.3f}"
              f"{d['clean_preserved']:>11.3f}{d['documents']:>6}")
    print("executor MB/s (one core): " + ", ".join(f"{k} {v}" for k, v in results["executor_mb_s"].items()))
    if "model" in results:
        print(f"refine model: {results['model']['docs_per_s']} docs/s on CPU, "
              f"{results['model']['failed_closed_docs']} documents with a window that failed closed")
    if "training" in results:
        print(f"training: {results['training']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
