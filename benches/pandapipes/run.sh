#!/usr/bin/env bash
# Produces the solver figures of BENCHMARKS.md in one run: builds linepack,
# installs pandapipes 0.16.0 from PyPI into benches/pandapipes/.venv,
# generates the city networks (2,500 and 100,000 grid nodes, seed 1) and runs
# compare.py. Takes a few minutes (pandapipes on 2,500 nodes, 7 runs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
cargo build --release -p linepack-engine -p linepack-benches --bins
if [ ! -x "$here/.venv/bin/python" ]; then
    python3 -m venv "$here/.venv"
fi
"$here/.venv/bin/pip" install -q -r "$here/requirements.txt"
out="$root/target/bench"
mkdir -p "$out"
"$root/target/release/linepack" sim generate --nodes 2500 --seed 1 -o "$out/city-2500.json"
"$root/target/release/linepack" sim generate --nodes 100000 --seed 1 -o "$out/city-100000.json"
cd "$here"
"$here/.venv/bin/python" compare.py --linepack "$root/target/release/linepack" \
    --memory "$root/target/release/solve_memory" "$out/city-2500.json" "$out/city-100000.json"
