"""``proda refine distill``: (raw, expert-refined) pairs -> programs -> reliable training records.

Records bring their expert refinement in ``refined`` or get it from the expert: the LLM
(:mod:`.expert`) on the text, or a main-content extractor on the record's ``html``
(:mod:`.content_expert`; a web-page record's text is its visible text, see
:func:`~proda.pipelines.refine.stage.parse_record`). Every distilled row names its expert, and each
reliable pair is also written whole to ``documents.jsonl`` (id, text, program, expert): what the
line classifier trains on. Every pair is distilled (:func:`~proda.pipelines.refine.distill.distill`) and
judged by the :class:`~proda.pipelines.refine.distill.ReliabilityFilter`; reliable pairs become
prompt-completion training records cut by the model's windows. Outputs are rewritten whole on each
run: the expert's answers come back from the response cache, so a rerun after a budget stop costs
only the calls that never succeeded.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proda.config import LLMSettings
from proda.errors import BudgetExceeded, InputError, InvalidModelOutput, LLMError
from proda.pipelines.refine.config import DistillConfig
from proda.pipelines.refine.content_expert import MainContentExpert
from proda.pipelines.refine.distill import ReliabilityFilter, distill
from proda.pipelines.refine.expert import PROMPT_VERSION, Expert, make_expert
from proda.pipelines.refine.model import ViewConfig, training_records
from proda.pipelines.refine.stage import InputLine, parse_record


@dataclass
class DistillReport:
    """What a distillation run did."""

    out_dir: str
    records: int = 0
    reliable: int = 0
    discarded: int = 0
    rejected: int = 0
    training_records: int = 0
    discard_reasons: dict[str, int] = field(default_factory=dict)
    expert_calls: int = 0
    cost_usd: float = 0.0
    stopped: str | None = None


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0]


class _LazyExpert:
    """The expert, built on first use: a run whose records all bring their refinement needs no backend."""

    def __init__(self, config: DistillConfig, home: Path, expert: Expert | None, llm: LLMSettings | None) -> None:
        self.config, self.home, self.expert, self.llm = config, home, expert, llm
        self.content: MainContentExpert | None = None

    def refine(self, record: dict[str, Any]) -> tuple[str, str]:
        """(refined text, expert name) for a record without its own refinement.

        Raises InputError when the main-content expert gets a record without ``html``, and what the
        LLM expert raises.
        """
        raw: str = record["text"]
        if self.config.expert == "trafilatura":
            html = record.get("html")
            if not isinstance(html, str):
                raise InputError("the trafilatura expert needs the page's 'html' field", source=str(record["id"]))
            if self.content is None:
                self.content = MainContentExpert(favour=self.config.trafilatura_favour)
            return self.content.refine(raw, html), self.content.name
        if self.expert is None:
            self.expert = make_expert(self.config, self.home, self.llm)
        return self.expert.refine(raw), f"{self.expert.name}:{self.expert.model}/{PROMPT_VERSION}"


def run_distill(inputs: Sequence[Path], out_dir: Path, config: DistillConfig, home: Path, *,
                expert: Expert | None = None, llm: LLMSettings | None = None) -> DistillReport:
    """Distill every record of ``inputs`` into ``out_dir``; returns the :class:`DistillReport`.

    Raises InputError for a missing input file and ConfigError when a record needs the expert and
    none is configured. A budget stop or a failing expert ends the run cleanly (``stopped``).
    """
    for path in inputs:
        if not path.is_file():
            raise InputError("no such file", source=str(path))
    out_dir.mkdir(parents=True, exist_ok=True)
    keep = ReliabilityFilter(config.max_insert_ratio, config.max_unexpressible_ratio)
    view = ViewConfig(max_window_chars=config.max_window_chars, max_line_chars=config.max_line_chars)
    lazy = _LazyExpert(config, home, expert, llm)
    report = DistillReport(out_dir=str(out_dir))
    reasons: Counter[str] = Counter()
    with (out_dir / "distilled.jsonl").open("w", encoding="utf-8") as distilled, \
            (out_dir / "train.jsonl").open("w", encoding="utf-8") as train, \
            (out_dir / "documents.jsonl").open("w", encoding="utf-8") as documents, \
            (out_dir / "rejected.jsonl").open("w", encoding="utf-8") as rejected:
        try:
            for path in inputs:
                with path.open("rb") as f:
                    for lineno, raw in enumerate(f, start=1):
                        record, rejection = parse_record(InputLine(lineno, raw), str(path))
                        if record is None:
                            report.rejected += 1
                            rejected.write(json.dumps(rejection) + "\n")
                            continue
                        report.records += 1
                        row, records = _distill_one(record, lazy, keep, view)
                        distilled.write(json.dumps(row, ensure_ascii=False) + "\n")
                        if row["reliable"]:
                            report.reliable += 1
                            train.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
                            document = {"id": record["id"], "text": record["text"], "program": row["program"],
                                        "expert": row["expert"]}
                            if isinstance(record.get("html"), str):  # the line classifier reads its markup
                                document["html"] = record["html"]
                            documents.write(json.dumps(document, ensure_ascii=False) + "\n")
                            report.training_records += len(records)
                        else:
                            report.discarded += 1
                            reasons[_reason_kind(row["reason"])] += 1
        except (BudgetExceeded, LLMError) as e:
            report.stopped = f"{type(e).__name__}: {e}"
    report.discard_reasons = dict(reasons)
    if lazy.expert is not None:
        acc = lazy.expert.client.accounting.to_dict()
        report.expert_calls = int(acc.get("calls", 0))
        report.cost_usd = float(acc.get("cost_usd", 0.0))
    (out_dir / "report.json").write_text(json.dumps(report.__dict__, indent=2))
    return report


def _distill_one(record: dict[str, Any], expert: _LazyExpert, keep: ReliabilityFilter,
                 view: ViewConfig) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(distilled row, training records) for one record; an invalid expert answer is a discarded pair."""
    raw: str = record["text"]
    refined = record.get("refined")
    name = "given"  # the record brought its refinement
    if not isinstance(refined, str):
        try:
            refined, name = expert.refine(record)
        except InvalidModelOutput as e:
            return {"id": record["id"], "program": None, "reliable": False, "expert": None,
                    "reason": f"expert answer invalid: {e}"}, []
        except InputError as e:
            return {"id": record["id"], "program": None, "reliable": False, "expert": None,
                    "reason": f"no expert answer: {e}"}, []
    d = distill(raw, refined)
    ok, reason = keep(d)
    row = {"id": record["id"], "program": d.program.render(), "reliable": ok, "reason": reason or None,
           "expert": name,
           "raw_chars": d.raw_chars, "deleted_chars": d.deleted_chars, "inserted_chars": d.inserted_chars,
           "inserted_nonspace": d.inserted_nonspace, "unexpressible_chars": d.unexpressible_chars,
           "insert_ratio": round(d.insert_ratio, 4)}
    return row, training_records(str(record["id"]), raw, d.program, view) if ok else []
