"""PNG plots of a loop report: accuracy per discipline and model, failure heat by relation type, and
which distractor operator the wrong answers chose. Drawn headless (matplotlib's Agg backend) from
the report and the traceback catalog queries, so what a plot shows is what an analyst can query.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proda.schema.store.base import GraphStore

LABELS = {"v0": "V0 (base)", "v1": "V1", "v2": "V2"}
ACCURACY = "accuracy_per_discipline.png"
HEAT = "failure_by_relation_type.png"
OPERATORS = "wrong_answers_by_operator.png"


def _groups(evals: dict[str, dict[str, Any]], grouping: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``{stage: {key: group row}}`` for one grouping of the stored eval summaries."""
    return {s: {str(g["key"]): g for g in e["groups"] if g["grouping"] == grouping} for s, e in evals.items()}


class PlotsSkipped(Exception):
    """No plot was drawn; the message says why (the loop report quotes it)."""


def write_plots(store: GraphStore, evals: dict[str, dict[str, Any]], out_dir: Path) -> list[str]:
    """Write the three plots for the evaluated stages (``v0``/``v1``/``v2`` → eval summaries with
    ``run_id`` and ``groups``); returns the file names written.

    Raises :class:`PlotsSkipped` with the reason when nothing can be drawn: matplotlib (the ``report``
    extra) is missing, or no stage was evaluated.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on servers and CI
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise PlotsSkipped("matplotlib is not installed (pip install 'proda[report]')") from e
    stages = [s for s in ("v0", "v1", "v2") if s in evals]
    if not stages:
        raise PlotsSkipped("no stage was evaluated")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    by_discipline = _groups(evals, "discipline")
    disciplines = sorted({k for s in stages for k in by_discipline[s]})
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(disciplines) + 2), 3.6))
    width = 0.8 / len(stages)
    for i, s in enumerate(stages):
        values = [100 * (by_discipline[s].get(d, {}).get("accuracy") or 0.0) for d in disciplines]
        ax.bar([x + i * width for x in range(len(disciplines))], values, width, label=LABELS[s])
    ax.set_xticks([x + width * (len(stages) - 1) / 2 for x in range(len(disciplines))],
                  [d.replace("_", " ") for d in disciplines])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Accuracy per discipline")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / ACCURACY, dpi=110)
    plt.close(fig)
    written.append(ACCURACY)

    rates: dict[str, dict[str, float]] = {}
    for s in stages:
        for r in store.query("traceback_run_relation_types", {"run": evals[s]["run_id"], "discipline": None,
                                                               "min_support": 1, "limit": 50}):
            rates.setdefault(str(r["relation_type"]), {})[s] = float(r["failure_rate"])
    if rates:
        types = sorted(rates, key=lambda t: -max(rates[t].values()))
        grid = [[rates[t].get(s, float("nan")) for s in stages] for t in types]
        fig, ax = plt.subplots(figsize=(2.2 + 1.3 * len(stages), 1.0 + 0.35 * len(types)))
        image = ax.imshow(grid, cmap="Reds", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(stages)), [LABELS[s] for s in stages])
        ax.set_yticks(range(len(types)), types)
        for y, row in enumerate(grid):
            for x, v in enumerate(row):
                if v == v:  # not NaN: the type was answered in that run
                    ax.text(x, y, f"{v:.0%}", ha="center", va="center", fontsize=8)
        fig.colorbar(image, ax=ax, label="failure rate")
        ax.set_title("Failure rate by relation type")
        fig.tight_layout()
        fig.savefig(out_dir / HEAT, dpi=110)
        plt.close(fig)
        written.append(HEAT)

    wrong = _groups(evals, "wrong_operator")
    operators = sorted({k for s in stages for k in wrong[s]})
    if operators:
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        bottoms = [0.0] * len(stages)
        for op in operators:
            counts = [float(wrong[s].get(op, {}).get("items") or 0) for s in stages]
            ax.bar([LABELS[s] for s in stages], counts, bottom=bottoms, label=op)
            bottoms = [b + c for b, c in zip(bottoms, counts, strict=True)]
        ax.set_ylabel("wrong answers")
        ax.set_title("Which distractor the wrong answers chose")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / OPERATORS, dpi=110)
        plt.close(fig)
        written.append(OPERATORS)
    return written
