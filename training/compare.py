"""Paired comparison of evaluation runs: accuracy differences with bootstrap intervals, and a verdict.

Two models answered the same benchmark items; whether one is better is a question about the
*paired* per-item differences, not about two accuracies side by side: on 50 items one item is two
points. :func:`paired_bootstrap` resamples items (the same resamples for every run and pair) and
gives each run's accuracy and each difference a mean with a 95 % percentile interval;
:func:`verdict` says in words whether a difference is distinguishable from noise (its interval
excludes 0). The demo, the closed-loop benchmark and anyone comparing two runs use these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from proda.errors import InputError
from proda.schema.store.base import GraphStore

RESAMPLES = 10_000
"""Bootstrap resamples: enough that the interval's ends move by well under a point between seeds."""


@dataclass(frozen=True)
class Interval:
    """A mean (an accuracy, or a difference of accuracies) and its 95 % bootstrap interval."""

    mean: float
    lo: float
    hi: float

    @property
    def within_noise(self) -> bool:
        """The interval contains 0: the data cannot tell the difference from none."""
        return self.lo <= 0.0 <= self.hi

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi}


def paired_bootstrap(scores: Mapping[str, NDArray[np.float64]], pairs: Sequence[tuple[str, str]], *,
                     resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Interval]:
    """Each run's mean and each ``a-b`` pair's paired difference, over the same resamples of items.

    ``scores`` maps a run name to its per-item scores (1.0 right, 0.0 wrong), all aligned on the same
    items; the result maps the run names and ``"a-b"`` keys to :class:`Interval`. Raises
    ValueError when the runs have different lengths or a pair names an unknown run.
    """
    lengths = {len(v) for v in scores.values()}
    if len(lengths) > 1:
        raise ValueError(f"runs scored on different numbers of items: {sorted(lengths)}")
    for a, b in pairs:
        if a not in scores or b not in scores:
            raise ValueError(f"pair {a}-{b} names a run that was not scored")
    n = lengths.pop() if lengths else 0
    if n == 0:
        return {}
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))

    def interval(values: NDArray[np.float64]) -> Interval:
        means = values[idx].mean(axis=1)
        return Interval(float(values.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))

    out = {name: interval(v) for name, v in scores.items()}
    for a, b in pairs:
        out[f"{a}-{b}"] = interval(scores[a] - scores[b])
    return out


def run_scores(store: GraphStore, runs: Mapping[str, str]) -> tuple[list[str], dict[str, NDArray[np.float64]]]:
    """(items, per-run scores) of the evaluation runs ``runs`` (name -> run id), on the items every run
    answered, in item order. Raises InputError naming a run that answered nothing."""
    answers: dict[str, dict[str, float]] = {}
    for name, run_id in runs.items():
        rows = store.query("eval_item_answers", {"run_id": run_id})
        if not rows:
            raise InputError(f"evaluation run {run_id!r} ({name}) has no stored answers", source=run_id)
        answers[name] = {r["item"]: 1.0 if r["correct"] else 0.0 for r in rows}
    common = sorted(set.intersection(*(set(a) for a in answers.values()))) if answers else []
    return common, {name: np.array([a[i] for i in common], dtype=np.float64) for name, a in answers.items()}


def verdict(name: str, diff: Interval) -> str:
    """One sentence on a difference, e.g. ``V1 - V0: +4.0 points [-2.0, +10.0], within noise``."""
    span = f"{diff.mean * 100:+.1f} points [{diff.lo * 100:+.1f}, {diff.hi * 100:+.1f}]"
    if diff.within_noise:
        return f"{name}: {span}, within noise (the 95 % interval includes no change)"
    return f"{name}: {span}, {'better' if diff.mean > 0 else 'worse'} beyond noise (the 95 % interval excludes 0)"
