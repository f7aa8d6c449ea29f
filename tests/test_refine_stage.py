"""``proda refine run``: bad inputs are reported by id and lose nothing, a killed run resumes without
redoing work, shards split the input, a served model is reached through the real ``openai`` SDK."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proda.cli.main import app
from proda.pipelines.refine.config import RefineConfig
from proda.pipelines.refine.model import RefineModel, ServerGenerator, ViewConfig
from proda.pipelines.refine.stage import KeepAll, run_refine
from tests.llm_wire import WireServer, openai_completion, recorded

PAGE = "Home | Courses | Library\nThe demand curve slopes down.\nPrices rise when supply falls."


class ScriptedModel:
    """A deterministic stand-in for the refine model: answers by what each window shows."""

    name = "scripted"
    model = "rules"

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.calls = 0

    def generate(self, prompts: Sequence[list[dict[str, str]]]) -> list[str]:
        self.calls += 1
        out = []
        for messages in prompts:
            view = messages[-1]["content"]
            self.prompts.append(view)
            if "GARBAGE" in view:
                out.append("Sure! Here is the cleaned page:\nThe demand curve slopes down.")
            elif "JUNKPAGE" in view:
                out.append("remove_lines(1, 2)")
            elif "Home |" in view:
                out.append("remove_lines(1, 1)")
            else:
                out.append("keep_doc()")
        return out


class Crash(BaseException):
    """Stands for SIGKILL: nothing in the stage may catch it."""


class CrashingModel(ScriptedModel):
    def __init__(self, after_calls: int) -> None:
        super().__init__()
        self.after = after_calls

    def generate(self, prompts: Sequence[list[dict[str, str]]]) -> list[str]:
        if self.calls >= self.after:
            raise Crash
        return super().generate(prompts)


def _jsonl(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _rows(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for f in sorted((out / "data").glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_bad_inputs_are_reported_by_id_and_nothing_is_lost(tmp_path: Path) -> None:
    huge = "x" * 1_000_000
    lines = [
        json.dumps({"id": "page", "text": PAGE, "url": "https://example.org/p"}).encode(),
        json.dumps({"id": "empty", "text": "   "}).encode(),
        json.dumps({"id": "one-mb-line", "text": huge}).encode(),
        b'{"id": "latin1", "text": "caf\xe9"}',
        b'{"id": "broken", "text": ',
        json.dumps({"id": "no-text", "body": "x"}).encode(),
        json.dumps({"id": "junk", "text": "JUNKPAGE cookie wall\nAccept all"}).encode(),
        json.dumps({"id": "garbage", "text": "GARBAGE in the model\nThe demand curve slopes down."}).encode(),
        json.dumps({"text": "no id here"}).encode(),
    ]
    data = _jsonl(tmp_path / "web.jsonl", lines)
    model = ScriptedModel()
    report = run_refine([data], tmp_path / "out", RefineConfig(source="keep", batch_size=4), tmp_path,
                        source=RefineModel(model, ViewConfig(max_window_chars=2000, max_line_chars=200)))
    [shard] = report.shards
    assert (shard.documents, shard.rejected, shard.empty, shard.dropped, shard.edited, shard.failed_closed) == \
        (6, 3, 1, 1, 1, 1)
    assert shard.rejected_reasons == {"not_utf8": 1, "malformed_json": 1, "missing_text": 1}
    rows = {r["id"]: r for r in _rows(tmp_path / "out")}
    assert set(rows) == {"page", "empty", "one-mb-line", "junk", "garbage", "web.jsonl:9"}
    assert rows["page"]["refined_text"] == "The demand curve slopes down.\nPrices rise when supply falls."
    assert rows["page"]["url"] == "https://example.org/p" and rows["page"]["text"] == PAGE
    assert rows["junk"]["refine"]["dropped"] and rows["junk"]["refined_text"] == ""  # a drop, not an error
    garbage = rows["garbage"]
    assert garbage["refined_text"] == garbage["text"] and garbage["refine"]["issues"] == {"malformed_program": 1}
    assert "not in the program vocabulary" in garbage["refine"]["errors"][0]
    assert rows["empty"]["refine"]["issues"] == {"empty_document": 1} and rows["empty"]["refined_text"] == "   "
    assert rows["one-mb-line"]["refined_text"] == huge
    assert max(len(p) for p in model.prompts) < 3000  # the 1 MB line reached the model as head and tail
    rejected = [json.loads(x) for x in (tmp_path / "out" / "rejected" / "web.00000-of-00001.jsonl").read_text()
                .splitlines()]
    assert [(r["line"], r["code"]) for r in rejected] == [(4, "not_utf8"), (5, "malformed_json"),
                                                          (6, "missing_text")]
    assert base64.b64decode(rejected[0]["raw_base64"]) == lines[3] + b"\n"  # the bytes, kept as they were
    assert "byte" in rejected[0]["reason"] and "'no-text'" in rejected[2]["reason"]


def test_a_killed_run_resumes_without_redoing_work(tmp_path: Path) -> None:
    docs = [json.dumps({"id": f"d{i}", "text": f"Home | Menu\nParagraph {i} of the text."}).encode()
            for i in range(20)]
    data = _jsonl(tmp_path / "corpus.jsonl", docs)
    out = tmp_path / "out"
    config = RefineConfig(source="keep", batch_size=3)
    with pytest.raises(Crash):
        run_refine([data], out, config, tmp_path, source=RefineModel(CrashingModel(after_calls=3)))
    # the kill also tore the batch being written: half a record after the last checkpoint
    with (out / "data" / "corpus.00000-of-00001.jsonl").open("ab") as f:
        f.write(b'{"id": "d9", "text": "Home | Me')
    assert not (out / "completions" / "corpus.00000-of-00001").exists()

    rerun = ScriptedModel()
    [shard] = run_refine([data], out, config, tmp_path, source=RefineModel(rerun)).shards
    assert len(rerun.prompts) == 11 and shard.resumed_from == 9  # only what the killed run had not written
    rows = _rows(out)
    assert [r["id"] for r in rows] == [f"d{i}" for i in range(20)]  # each once, in input order
    assert all(r["refined_text"] == r["text"].split("\n", 1)[1] for r in rows)
    assert shard.documents == 20 and shard.lines_removed == 20  # statistics cover both runs
    assert (out / "completions" / "corpus.00000-of-00001").exists()

    third = ScriptedModel()
    run_refine([data], out, config, tmp_path, source=RefineModel(third))
    assert third.calls == 0 and len(_rows(out)) == 20


def test_shards_split_the_input_and_cover_it_once(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "c.jsonl", [json.dumps({"id": f"d{i}", "text": f"t{i}"}).encode() for i in range(10)])
    report = run_refine([data], tmp_path / "out", RefineConfig(source="keep", shards=3), tmp_path, source=KeepAll())
    assert [s.documents for s in report.shards] == [4, 3, 3]
    assert sorted(str(r["id"]) for r in _rows(tmp_path / "out")) == sorted(f"d{i}" for i in range(10))
    assert len(list((tmp_path / "out" / "completions").iterdir())) == 3


def test_a_served_refine_model_through_the_openai_sdk_and_a_failing_server_stops_resumably(
        wire: WireServer, tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "c.jsonl", [json.dumps({"id": f"d{i}", "text": PAGE}).encode() for i in range(3)])
    config = RefineConfig(source="server", model="refine-135m", base_url=f"{wire.url}/v1", batch_size=1)
    wire.script(openai_completion("remove_lines(1, 1)"), recorded("openai_error_authentication"))
    source = RefineModel(ServerGenerator("refine-135m", f"{wire.url}/v1", api_key="x", max_retries=0))
    first = run_refine([data], tmp_path / "out", config, tmp_path, source=source)
    [shard] = first.shards
    assert shard.documents == 1 and shard.stopped and "LLMError" in shard.stopped
    body = wire.received[0].body
    assert body["model"] == "refine-135m" and body["temperature"] == 0.0
    assert "[1] Home | Courses | Library" in body["messages"][0]["content"]
    wire.script(openai_completion("remove_lines(1, 1)"), openai_completion("remove_lines(1, 1)"))
    second = run_refine([data], tmp_path / "out", config, tmp_path, source=source)
    assert second.shards[0].documents == 3 and second.shards[0].stopped is None
    assert all(r["refined_text"] == PAGE.split("\n", 1)[1] for r in _rows(tmp_path / "out"))


def test_cli_run_apply_and_help(tmp_path: Path) -> None:
    runner = CliRunner()
    help_text = runner.invoke(app, ["refine", "--help"]).output
    assert all(cmd in help_text for cmd in ("run", "distill", "train", "apply"))
    data = _jsonl(tmp_path / "c.jsonl", [json.dumps({"id": "a", "text": PAGE}).encode(), b"{bad"])
    result = runner.invoke(app, ["--home", str(tmp_path), "refine", "run", str(data), "--out", str(tmp_path / "o"),
                                 "--source", "keep", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["total"]["documents"] == 1 and summary["total"]["rejected"] == 1
    program = tmp_path / "p.txt"
    program.write_text("remove_lines(1, 1)\n")
    page = tmp_path / "page.txt"
    page.write_text(PAGE)
    applied = runner.invoke(app, ["refine", "apply", str(page), "--program", str(program), "--json"])
    assert json.loads(applied.output)["refined_text"] == PAGE.split("\n", 1)[1]
    assert runner.invoke(app, ["refine", "apply", str(page)]).output.startswith("[1] Home | Courses")
    program.write_text("rewrite(1)\n")
    bad = runner.invoke(app, ["refine", "apply", str(page), "-p", str(program)])
    assert bad.exit_code != 0
    missing_model = runner.invoke(app, ["refine", "run", str(data), "--out", str(tmp_path / "o2")])
    assert missing_model.exit_code != 0


@pytest.mark.slow
def test_ray_executor_writes_the_same_records(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    data = _jsonl(tmp_path / "c.jsonl", [json.dumps({"id": f"d{i}", "text": f"t{i}\nline"}).encode()
                                         for i in range(7)] + [b"{bad"])
    local = run_refine([data], tmp_path / "local", RefineConfig(source="keep", shards=2), tmp_path)
    via_ray = run_refine([data], tmp_path / "ray", RefineConfig(source="keep", shards=2, executor="ray"), tmp_path)
    assert sorted(s.documents for s in via_ray.shards) == sorted(s.documents for s in local.shards) == [3, 4]
    assert sorted(map(json.dumps, _rows(tmp_path / "ray"))) == sorted(map(json.dumps, _rows(tmp_path / "local")))
    assert sum(s.rejected for s in via_ray.shards) == 1
