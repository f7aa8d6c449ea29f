"""Does refining noisy text give extraction back its clean-text score? RefineX downstream, on the gold set.

Every chunk of the hand-annotated extraction gold set (``data/gold``, dev and test together) is
*dressed* with real boilerplate lines: lines that the expert's programs removed from web pages of
the train half (the ``documents.jsonl`` that ``proda refine distill`` writes). A block of them goes
above the chunk, a block below, and with probability 0.3 a few go between two paragraphs, each
block set off by a blank line as a page would set it off. Dressing only adds lines: deleting the
added ones gives back the chunk's text character for character, so the gold triples and their
evidence spans stay valid (no block goes inside a gold evidence span that runs over a paragraph
break).

``--dress page`` dresses each chunk as a web page instead: a page of the train half (one with its
HTML in ``documents.jsonl``, drawn at random) has the inner HTML of its densest prose container
(:func:`~proda.pipelines.refine.markup_features.prose_containers`: where its own article was)
replaced by the chunk's lines, one ``<p>`` each. The noisy text is that page's visible text less
the lines the expert kept on the original page (what is left of its own article outside that
container): the chunk amid the page's whole furniture, and nothing else. The refiner gets the
page's HTML with it, as ``proda refine run`` gets a page's. The chunk's own lines come back from the
conversion with their blanks collapsed, which changes no word.

Each offline extractor (built by ``make_extractor`` exactly as ``proda extract score`` builds it)
then runs on every chunk three ways: the **clean** text, the **noisy** (dressed) text, and the
noisy text **refined** by the refiner under test. Each is scored against the same gold triples with
the code of ``proda extract score`` (lenient concept matching, the scorer's headline): triple
precision, recall, F1, the tp/fp/fn counts, and ``recovered`` = F1(variant) / F1(clean). A paired
bootstrap over chunks (1,000 resamples, seeded; F1 from the summed counts of each resample) gives
95 % intervals of F1(clean) - F1(noisy), F1(refined) - F1(noisy), F1(clean) - F1(refined) and of
the refined text's ``recovered``.

Target: refined text recovers at least 90 % of the clean F1, and noisy text without refining
recovers measurably less (the interval of F1(clean) - F1(noisy) lies above zero).

For honesty the refiner itself is scored on the dressed chunks too: the share of the chunks' own
non-blank lines missing from the refined text, and the share of added boilerplate lines left in it
(lines compared verbatim, after aligning refined lines to noisy ones).

Run (a classifier and the distilled train half, e.g. from ``benchmarks/refinex_web.py --work W``)::

    .venv/bin/python benchmarks/refinex_downstream.py --model W/model --documents W/distill-recall/documents.jsonl \\
        --home W/home
    .venv/bin/python benchmarks/refinex_downstream.py --model W/model --documents W/distill-recall/documents.jsonl \\
        --home W/home --dress page
    .venv/bin/python benchmarks/refinex_downstream.py --refine keep --documents W/distill-recall/documents.jsonl

``--refine keep`` refines nothing (refined = noisy): a smoke test that needs no model.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import random
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS = ("clean", "noisy", "refined")
# pairs (a, b) whose paired F1 difference a - b gets a bootstrap interval
PAIRS = (("clean", "noisy"), ("refined", "noisy"), ("clean", "refined"))
RESAMPLES = 1000
RECOVERY_TARGET = 0.9


# -- dressing ----------------------------------------------------------------------------------------------


def protected_breaks(text: str, spans: Sequence[str]) -> set[int]:
    """Line indices ``i`` such that a boilerplate block must not go before line ``i``: the break
    falls inside one of ``spans`` where it occurs in ``text`` (an evidence span over a paragraph break)."""
    starts = [m.start() for m in re.finditer("\n", text)]  # offset of the newline ending line k
    out: set[int] = set()
    for span in spans:
        if "\n" not in span:
            continue
        for m in re.finditer(re.escape(span), text):
            out.update(k + 1 for k, pos in enumerate(starts) if m.start() <= pos < m.end())
    return out


def dress_lines(text: str, boilerplate: Sequence[str], rng: random.Random,
                protect: set[int] | frozenset[int] = frozenset()) -> tuple[list[str], list[bool]]:
    """``text``'s lines with boilerplate lines around and between its paragraphs, and per line
    whether it was added.

    The way ``benchmarks/refinex_web.py`` dressed sample chunks (6-14 lines above and below, 1-3
    between two paragraphs with probability 0.3), except that the text's own lines are kept
    verbatim, blank lines included: a block goes only where a paragraph starts after a blank line,
    never before a line in ``protect``, and is followed by a blank line of its own.
    """
    lines = text.split("\n")
    out: list[str] = []
    added: list[bool] = []

    def add(block: list[str]) -> None:
        out.extend(block)
        added.extend([True] * len(block))

    add([*rng.sample(boilerplate, min(len(boilerplate), rng.randint(6, 14))), ""])
    seen_text = False
    for i, line in enumerate(lines):
        starts_paragraph = line.strip() and i > 0 and not lines[i - 1].strip()
        if starts_paragraph and seen_text and i not in protect and rng.random() < 0.3:
            add([*rng.sample(boilerplate, min(len(boilerplate), rng.randint(1, 3))), ""])
        out.append(line)
        added.append(False)
        seen_text = seen_text or bool(line.strip())
    add(["", *rng.sample(boilerplate, min(len(boilerplate), rng.randint(6, 14)))])
    return out, added


def dress(text: str, boilerplate: Sequence[str], rng: random.Random,
          protect: set[int] | frozenset[int] = frozenset()) -> str:
    """``text`` with real boilerplate lines around and between its paragraphs (see :func:`dress_lines`)."""
    return "\n".join(dress_lines(text, boilerplate, rng, protect)[0])


def dress_page(text: str, page: str, content: frozenset[str] | set[str] = frozenset()) -> tuple[
        list[str], list[bool], str]:
    """``text`` as the article of the web page ``page`` (HTML): the lines of the page's visible text,
    per line whether it is the page's (not one of ``text``'s lines), and the page's HTML. ``text``
    goes into the page's densest prose container (the whole body when it has none), one ``<p>`` per
    non-blank line, headings too, so that its lines read as in the clean chunk
    (:func:`~proda.pipelines.refine.page_synthesis.transplant`); the page's lines whose text (blanks
    collapsed) is in ``content`` are left out."""
    from proda.pipelines.refine.page_synthesis import line_key, transplant

    made = transplant(page, text.split("\n"), headings=False)
    added = [not own for own in made.own]
    for i, line in enumerate(made.lines):
        if not line.strip():  # a blank line is nobody's: it follows the line above it
            added[i] = added[i - 1] if i else True
    kept = [i for i, line in enumerate(made.lines) if not (added[i] and line_key(line) in content)]
    return [made.lines[i] for i in kept], [added[i] for i in kept], made.html


# -- the refiner on the dressed chunks -----------------------------------------------------------------


def kept_lines(noisy: list[str], refined: list[str]) -> list[bool]:
    """Per noisy line, whether it is in the refined text verbatim (refined lines aligned to noisy
    ones in order; a refined text is an edited subsequence of its input)."""
    kept = [False] * len(noisy)
    matcher = difflib.SequenceMatcher(None, noisy, refined, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            kept[block.a + k] = True
    return kept


def refiner_errors(dressed: Sequence[tuple[list[str], list[bool]]], refined: Sequence[str]) -> dict[str, Any]:
    """What the refiner did to the dressed chunks: the chunks' own non-blank lines it removed (or
    changed) and the added boilerplate lines it left, as counts and shares."""
    text_lines = text_lost = bp_lines = bp_left = chunks_hurt = 0
    for (lines, added), out in zip(dressed, refined, strict=True):
        kept = kept_lines(lines, out.split("\n"))
        lost_here = 0
        for line, is_added, is_kept in zip(lines, added, kept, strict=True):
            if not line.strip():
                continue
            if is_added:
                bp_lines += 1
                bp_left += is_kept
            else:
                text_lines += 1
                lost_here += not is_kept
        text_lost += lost_here
        chunks_hurt += lost_here > 0
    return {"text_lines": text_lines, "text_lines_lost": text_lost,
            "text_lines_lost_share": round(text_lost / max(text_lines, 1), 4),
            "chunks_losing_text": chunks_hurt,
            "boilerplate_lines": bp_lines, "boilerplate_left": bp_left,
            "boilerplate_left_share": round(bp_left / max(bp_lines, 1), 4)}


# -- scoring -------------------------------------------------------------------------------------------


def gold_chunks(splits: Sequence[str] = ()) -> list[Any]:
    """The chunks of the bundled gold set (``GoldChunk`` objects) of ``splits``, dev then test (all when empty)."""
    from proda.gold import SPLITS, bundled
    from proda.pipelines.extract.score import read_gold

    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown gold split(s) {sorted(unknown)}; the splits are {', '.join(SPLITS)}")
    return [g for split in SPLITS if not splits or split in splits for g in read_gold(bundled(split))]


def offline_extractor(backend: str) -> Any:
    """The backend's extractor as ``proda extract score --backend`` builds it, with no LLM settings
    (an offline backend only: this benchmark must never call a provider)."""
    from proda.config import LLMSettings
    from proda.pipelines.extract.config import OFFLINE_BACKENDS, ExtractConfig
    from proda.pipelines.extract.stage import make_extractor

    if backend not in OFFLINE_BACKENDS:
        raise ValueError(f"{backend!r} is not an offline backend; use one of {', '.join(OFFLINE_BACKENDS)}")
    config = ExtractConfig(backend=backend).with_llm(LLMSettings.model_construct())
    return make_extractor(config, Path(os.environ.get("PRODA_HOME", ".proda")))


def with_text(gold: Any, text: str) -> Any:
    """The gold chunk with its text replaced (same id, discipline, section, title and triples)."""
    return dataclasses.replace(gold, chunk=gold.chunk.model_copy(update={"text": text}))


def _f1(tp: Any, fp: Any, fn: Any) -> Any:
    """Micro F1 from counts (arrays or ints); 0 where nothing was predicted or expected."""
    den = 2 * tp + fp + fn
    return np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)


def variant_row(report: Any, clean_f1: float | None) -> dict[str, Any]:
    """One variant's figures (lenient, the scorer's headline) from its ScoreReport."""
    m = report.overall
    tp = m.matched
    return {"precision": round(m.precision, 4), "recall": round(m.recall, 4), "f1": round(m.f1, 4),
            "f1_strict": round(m.f1_strict, 4), "tp": tp, "fp": m.predicted_triples - tp,
            "fn": m.gold_triples - tp, "predicted": m.predicted_triples,
            "recovered": round(m.f1 / clean_f1, 4) if clean_f1 else None,
            "errors": m.errors, "seconds": report.seconds,
            "f1_by_discipline": {d: round(dm.f1, 4) for d, dm in report.disciplines.items()}}


def counts(report: Any) -> np.ndarray:
    """Per chunk (tp, fp, fn) of a ScoreReport, shape (chunks, 3)."""
    return np.array([[len(s.matched), s.predicted_triples - len(s.matched), s.gold_triples - len(s.matched)]
                     for s in report.chunks], dtype=float)


def bootstrap(per_chunk: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
    """Paired 95 % percentile intervals over chunks of the F1 differences of :data:`PAIRS` and of the
    refined text's recovery, the same resamples for all; F1 from each resample's summed counts."""
    n = len(per_chunk["clean"])
    idx = np.random.default_rng(seed).integers(0, n, size=(RESAMPLES, n))
    f1 = {v: _f1(*(c[idx].sum(axis=1).T)) for v, c in per_chunk.items()}

    def interval(values: np.ndarray, point: float) -> dict[str, float]:
        return {"value": round(point, 4), "lo": round(float(np.percentile(values, 2.5)), 4),
                "hi": round(float(np.percentile(values, 97.5)), 4)}

    full = {v: float(_f1(*c.sum(axis=0))) for v, c in per_chunk.items()}
    out: dict[str, Any] = {"resamples": RESAMPLES, "seed": seed}
    for a, b in PAIRS:
        out[f"{a}-{b}"] = interval(f1[a] - f1[b], full[a] - full[b])
    ratio = np.where(f1["clean"] > 0, f1["refined"] / np.maximum(f1["clean"], 1e-12), 0.0)
    out["refined/clean"] = interval(ratio, full["refined"] / full["clean"] if full["clean"] else 0.0)
    return out


Refiner = Callable[[list[str], "list[str | None] | None"], list[str]]
"""Noisy texts (and, for dressed pages, each one's HTML) -> refined texts."""


def downstream(boilerplate: list[str], refine: Refiner, *, backends: Sequence[str] = ("dependency", "heuristic"),
               seed: int = 0, pages: Sequence[tuple[str, frozenset[str]]] = (),
               splits: Sequence[str] = ()) -> dict[str, Any]:
    """Extraction on the gold chunks clean, dressed with ``boilerplate`` (or, when ``pages`` holds
    web pages with the text of the lines their expert kept, dressed as one of them: see the module
    docstring) and dressed then ``refine``-d, per backend, on the gold chunks of ``splits`` (all when
    empty); a JSON-ready dict."""
    if not boilerplate and not pages:
        raise ValueError("no boilerplate lines to dress the chunks with")
    from proda.pipelines.extract.score import score
    from proda.schema.vocabulary import default_vocabulary

    vocab = default_vocabulary()
    gold = gold_chunks(splits)
    rng = random.Random(seed)
    htmls: list[str | None] | None = None
    if pages:
        dressed, htmls = [], []
        for g in gold:
            lines, added, page = dress_page(g.chunk.text, *rng.choice(pages))
            dressed.append((lines, added))
            htmls.append(page)
    else:
        dressed = [dress_lines(g.chunk.text, boilerplate, rng,
                               protected_breaks(g.chunk.text, [t.evidence for t in g.triples])) for g in gold]
    noisy = ["\n".join(lines) for lines, _ in dressed]
    refined = refine(noisy, htmls)
    if len(refined) != len(noisy):
        raise ValueError(f"the refiner returned {len(refined)} texts for {len(noisy)}")
    texts = {"clean": [g.chunk.text for g in gold], "noisy": noisy, "refined": refined}
    disciplines: dict[str, int] = {}
    for g in gold:
        disciplines[g.chunk.discipline] = disciplines.get(g.chunk.discipline, 0) + 1
    result: dict[str, Any] = {
        "chunks": len(gold), "gold_triples": sum(len(g.triples) for g in gold), "disciplines": disciplines,
        "boilerplate_pool": len(boilerplate), "seed": seed, "dress": "page" if pages else "lines",
        "pages_pool": len(pages), "splits": list(splits) or ["dev", "test"],
        "lines_added": sum(sum(added) for _, added in dressed),
        "lines_clean": sum(len(added) - sum(added) for _, added in dressed),
        "refiner": refiner_errors(dressed, refined), "backends": {}}
    for backend in backends:
        extractor = offline_extractor(backend)
        rows: dict[str, Any] = {}
        per_chunk: dict[str, np.ndarray] = {}
        clean_f1 = 0.0
        for variant in VARIANTS:
            report = score([with_text(g, t) for g, t in zip(gold, texts[variant], strict=True)], extractor,
                           vocabulary=vocab)
            clean_f1 = report.overall.f1 if variant == "clean" else clean_f1
            rows[variant] = variant_row(report, clean_f1)
            per_chunk[variant] = counts(report)
        boot = bootstrap(per_chunk, seed)
        rows["bootstrap"] = boot
        rows["target"] = {
            "refined_recovers_90": bool((rows["refined"]["recovered"] or 0) >= RECOVERY_TARGET),
            "noisy_measurably_less": bool(boot["clean-noisy"]["lo"] > 0),
            "refined_beats_noisy": bool(boot["refined-noisy"]["lo"] > 0)}
        result["backends"][backend] = rows
    return result


def print_table(result: dict[str, Any]) -> None:
    """The result as a readable table: per backend and variant P/R/F1, counts and recovery, the
    bootstrap intervals, the targets, and what the refiner removed."""
    print(f"downstream extraction on {result['chunks']} gold chunks of {'+'.join(result.get('splits', []))} "
          f"({result['gold_triples']} gold triples; "
          + ", ".join(f"{d} {n}" for d, n in result["disciplines"].items()) + ")")
    if result.get("dress") == "page":
        print(f"dressed as train-half web pages ({result['pages_pool']} pages): {result['lines_added']} lines of "
              f"theirs around the chunks' {result['lines_clean']} lines; seed {result['seed']}")
    else:
        print(f"dressed with {result['lines_added']} lines drawn from {result['boilerplate_pool']} distinct "
              f"train-half boilerplate lines (the chunks have {result['lines_clean']} lines of their own); "
              f"seed {result['seed']}")
    print(f"\n{'backend':<11} {'variant':<8} {'P':>6} {'R':>6} {'F1':>6} {'tp':>5} {'fp':>5} {'fn':>5} "
          f"{'recovered':>9}")
    for backend, rows in result["backends"].items():
        for variant in VARIANTS:
            v = rows[variant]
            rec = "-" if v["recovered"] is None else f"{v['recovered']:.1%}"
            print(f"{backend:<11} {variant:<8} {v['precision']:>6.3f} {v['recall']:>6.3f} {v['f1']:>6.3f} "
                  f"{v['tp']:>5} {v['fp']:>5} {v['fn']:>5} {rec:>9}")
    print(f"\npaired bootstrap over chunks ({RESAMPLES} resamples): value [95 % interval]")
    for backend, rows in result["backends"].items():
        boot = rows["bootstrap"]
        cells = [f"{k} {boot[k]['value']:+.4f} [{boot[k]['lo']:+.4f}, {boot[k]['hi']:+.4f}]"
                 for k in (f"{a}-{b}" for a, b in PAIRS)]
        r = boot["refined/clean"]
        cells.append(f"refined/clean {r['value']:.1%} [{r['lo']:.1%}, {r['hi']:.1%}]")
        print(f"{backend:<11} " + "; ".join(cells))
        ok = {k: "yes" if v else "no" for k, v in rows["target"].items()}
        print(f"{'':<11} target: refined recovers >= {RECOVERY_TARGET:.0%}: {ok['refined_recovers_90']}; "
              f"noisy measurably less: {ok['noisy_measurably_less']}; "
              f"refined measurably above noisy: {ok['refined_beats_noisy']}")
    e = result["refiner"]
    print(f"\nrefiner on the dressed chunks: removed or changed {e['text_lines_lost']} of {e['text_lines']} "
          f"non-blank chunk lines ({e['text_lines_lost_share']:.1%}, in {e['chunks_losing_text']} chunks); "
          f"left {e['boilerplate_left']} of {e['boilerplate_lines']} boilerplate lines "
          f"({e['boilerplate_left_share']:.1%})")


# -- running it alone ----------------------------------------------------------------------------------


def removed_lines(documents: Path) -> list[str]:
    """The distinct lines (over two characters, stripped) that the programs of a ``proda refine
    distill`` documents.jsonl remove: the boilerplate of those pages."""
    from proda.pipelines.refine.interpreter import execute
    from proda.pipelines.refine.program import parse_program

    out: set[str] = set()
    for line in documents.open(encoding="utf-8"):
        r = json.loads(line)
        run = execute(parse_program(r["program"]), r["text"])
        lines = r["text"].split("\n")
        out.update(lines[i].strip() for i in run.removed_lines if len(lines[i].strip()) > 2)
    return sorted(out)


def refiner_of(classifier: Any, threshold: float | None = None, *, expert: str | None = None,
               expert_threshold: float | None = None) -> Refiner:
    """Texts (with their pages' HTML, when they are pages) -> refined texts through a line classifier's
    fail-closed program path, at its stored settings or at those given (the classifier is not changed):
    ``threshold`` alone, ``expert`` the trafilatura point beside it on a page ("" for none) and
    ``expert_threshold`` its confidence there."""
    from proda.pipelines.refine.classifier import LineClassifier
    from proda.pipelines.refine.interpreter import execute

    changes = {k: v for k, v in (("threshold", threshold), ("expert", expert),
                                 ("expert_threshold", expert_threshold)) if v is not None}
    if changes:
        classifier = LineClassifier(dataclasses.replace(classifier.spec, **changes), classifier.heads,
                                    classifier.encoder)

    def refine(texts: list[str], pages: list[str | None] | None = None) -> list[str]:
        programs = classifier.programs(texts, pages)
        return [execute(mp.program, t).text for mp, t in zip(programs, texts, strict=True)]

    return refine


def classifier_refiner(model: Path, home: Path, threshold: float | None = None, *, expert: str | None = None,
                       expert_threshold: float | None = None) -> Refiner:
    """:func:`refiner_of` the trained line classifier in folder ``model``."""
    from proda.pipelines.refine.classifier import LineClassifier

    return refiner_of(LineClassifier.load(model, home), threshold, expert=expert, expert_threshold=expert_threshold)


def train_pages(documents: Path) -> list[tuple[str, frozenset[str]]]:
    """The pages of a ``proda refine distill`` documents.jsonl (records without HTML skipped): each
    one's HTML and the text (blanks collapsed) of the lines its program keeps."""
    from proda.pipelines.refine.page_synthesis import labelled_pages

    return [(p.html, p.kept) for p in labelled_pages([documents])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=Path, required=True, help="documents.jsonl of `proda refine distill` "
                        "on the train half: the lines its programs removed are the boilerplate")
    parser.add_argument("--refine", default="model", choices=("model", "keep"),
                        help="model: the line classifier of --model; keep: refine nothing (a smoke test)")
    parser.add_argument("--model", type=Path, default=None, help="a line classifier folder "
                        "(`proda refine train-classifier`)")
    parser.add_argument("--threshold", type=float, default=None, help="decide at this content probability instead "
                        "of the classifier's stored threshold (e.g. the one chosen on the dev half)")
    parser.add_argument("--expert", default=None, choices=("recall", "balanced", "precision", "none"),
                        help="the trafilatura point beside the classifier on pages (default: the model's own)")
    parser.add_argument("--expert-threshold", type=float, default=None, help="the classifier's confidence beside "
                        "its expert (default: the model's own)")
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("PRODA_HOME", ".proda")),
                        help="PRODA_HOME (the encoder's cache)")
    parser.add_argument("--backends", default="dependency,heuristic", help="comma-separated offline backends")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dressing and of the bootstrap")
    parser.add_argument("--split", default="all", choices=("all", "dev", "test"),
                        help="the gold chunks of one split (choose on dev, report on test) or all of them")
    parser.add_argument("--dress", default="lines", choices=("lines", "page"),
                        help="lines: boilerplate lines around and between the chunk's paragraphs (text only); page: "
                        "the chunk as the article of a train-half web page, whose HTML the refiner reads")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    if not args.documents.is_file():
        print(f"no documents at {args.documents}", file=sys.stderr)
        return 2
    if args.refine == "model" and args.model is None:
        print("--refine model needs --model (or use --refine keep)", file=sys.stderr)
        return 2
    boilerplate = removed_lines(args.documents)
    if not boilerplate:
        print(f"the programs of {args.documents} remove no line", file=sys.stderr)
        return 2

    pages = train_pages(args.documents) if args.dress == "page" else []
    if args.dress == "page" and not pages:
        print(f"no page of {args.documents} has its HTML (distill web pages to get them)", file=sys.stderr)
        return 2

    def keep(texts: list[str], _pages: list[str | None] | None = None) -> list[str]:
        return list(texts)

    expert = "" if args.expert == "none" else args.expert
    refine = (classifier_refiner(args.model, args.home, args.threshold, expert=expert,
                                 expert_threshold=args.expert_threshold) if args.refine == "model" else keep)
    result = downstream(boilerplate, refine, backends=[b.strip() for b in args.backends.split(",") if b.strip()],
                        seed=args.seed, pages=pages, splits=() if args.split == "all" else (args.split,))
    result["refiner"]["name"] = str(args.model) if args.refine == "model" else "keep (refines nothing)"
    result["refiner"].update(threshold=args.threshold, expert=args.expert, expert_threshold=args.expert_threshold)
    print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
