"""Deterministic test/dev/train split of L3 chains, recorded on each Chain node.

A chain's split is a pure function of its id: a salted SHA-256 of the id, read as a number u in
[0, 1), gives test when u < test_ratio, dev when u < test_ratio + dev_ratio, else train. So:

* **stable when new chains arrive**: no chain's split depends on any other chain; adding chains
  never moves one, and the same graph built anywhere splits the same way;
* **stratified**: the hash is independent of discipline and chain length, so inside every
  (discipline, length) stratum each split is drawn with exactly the configured probability; the
  realised share deviates only by sampling noise, which :func:`split_counts` reports per stratum.
  Quota methods (rank within stratum) hit the ratio exactly but move chains when a stratum grows,
  which would leak test chains into train: that is the trade we do not make.

A split once recorded is never changed (``bench_set_splits`` only fills chains without one); a chain
whose split was cleared (a re-extraction) but that a benchmark item already tests gets its item's
split back, so a rerun cannot turn a benchmark chain into training material.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from proda.pipelines.tester.config import BenchConfig
from proda.schema.store.base import GraphStore

Split = Literal["test", "dev", "train"]
WRITE_BATCH = 10_000


def split_of(chain_id: str, test_ratio: float, dev_ratio: float, salt: str) -> Split:
    """The split the hash rule gives ``chain_id``."""
    digest = hashlib.sha256(f"{salt}\x1f{chain_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test_ratio:
        return "test"
    if u < test_ratio + dev_ratio:
        return "dev"
    return "train"


@dataclass
class SplitReport:
    """What :func:`assign_splits` did."""

    assigned: Counter[str] = field(default_factory=Counter)  # split -> chains newly split
    pinned: int = 0  # of those, chains given back the split of the benchmark item that tests them
    rule: str = ""


def assign_splits(store: GraphStore, config: BenchConfig) -> SplitReport:
    """Give every chain without a split (of ``config.discipline``, or all) its split; idempotent."""
    report = SplitReport(rule=config.split_rule)
    rows = []
    for r in store.query("bench_unsplit_chains", {"discipline": config.discipline}):
        if r["pinned"] in ("test", "dev"):
            split, rule = r["pinned"], "pinned-by-benchmark-item"
            report.pinned += 1
        else:
            split, rule = split_of(r["id"], config.test_ratio, config.dev_ratio, config.split_salt), config.split_rule
        rows.append({"id": r["id"], "split": split, "rule": rule})
        report.assigned[split] += 1
    for start in range(0, len(rows), WRITE_BATCH):
        store.query("bench_set_splits", {"rows": rows[start:start + WRITE_BATCH]})
    return report


def split_counts(store: GraphStore, discipline: str | None = None) -> list[dict[str, object]]:
    """Rows {discipline, length, chains, test, dev, train, unsplit, test_share, dev_share} per stratum."""
    strata: dict[tuple[str, int], Counter[str]] = {}
    for r in store.query("bench_split_counts", {"discipline": discipline}):
        key = (r["discipline"] or "(none)", int(r["length"] or 0))
        strata.setdefault(key, Counter())[r["split"] or "unsplit"] += int(r["chains"])
    out: list[dict[str, object]] = []
    for (disc, length), c in sorted(strata.items()):
        total = sum(c.values())
        out.append({"discipline": disc, "length": length, "chains": total, "test": c["test"], "dev": c["dev"],
                    "train": c["train"], "unsplit": c["unsplit"],
                    "test_share": c["test"] / total if total else None,
                    "dev_share": c["dev"] / total if total else None})
    return out
