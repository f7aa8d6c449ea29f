"""Rates from the audit verdict files in ``docs/audits/`` (not a test): what the README's audit table quotes.

Run::

    .venv/bin/python benchmarks/audit_report.py                   # the first round
    .venv/bin/python benchmarks/audit_report.py --prefix round2_  # the round after the fixes
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

AUDITS = Path(__file__).resolve().parents[1] / "docs" / "audits"


def _rows(pattern: str) -> list[dict[str, object]]:
    return [json.loads(line) for f in sorted(AUDITS.glob(pattern)) for line in f.open(encoding="utf-8")]


def _line(what: str, rows: list[dict[str, object]], flag: str) -> None:
    n = sum(1 for r in rows if r.get(flag))
    print(f"{what:<18}{flag:<22}{n:>5} of {len(rows):<5}{100 * n / len(rows) if rows else 0:6.1f} %")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prefix", default="", help="prefix of the verdict files (the round)")
    a = p.parse_args(argv)
    items, chains, merges = _rows(f"{a.prefix}items_verdicts*.jsonl"), \
        _rows(f"{a.prefix}composed_chains_verdicts.jsonl"), _rows(f"{a.prefix}merges_verdicts.jsonl")
    _line("items", items, "distractor_correct")
    _line("items", items, "answer_unsupported")
    _line("composed chains", chains, "not_one_argument")
    _line("composed chains", chains, "step_unsupported")
    _line("merges", merges, "wrong")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
