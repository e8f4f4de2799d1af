"""Side-by-side figures for BENCHMARKS.md, all from one run on one machine.

1. pandapipes 0.16.0 pipeflow() on the 2,500-node city, from a loaded net
   (median of 7 runs after a warm-up), against linepack's solve_time_ms on the
   same file (median of 7 runs of `linepack sim steady --json`), and their
   ratio; the node pressures of both are compared.
2. The whole `linepack sim steady` process on that file (wall time, median of 7).
3. The 100,000-node city: solve_time_ms (median of 3), the solve's peak heap
   (benches/src/bin/solve_memory.rs) and the process's peak RSS.

Usage: compare.py --linepack BIN --memory BIN CITY_2500.json CITY_100000.json
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import time

import pipeflow_time


def linepack_runs(binary, network, runs):
    solve, wall, report = [], [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run([binary, "sim", "steady", network, "--json"], check=True, capture_output=True, text=True)
        wall.append((time.perf_counter() - t) * 1e3)
        report = json.loads(out.stdout)
        solve.append(report["solve_time_ms"])
    return statistics.median(solve), statistics.median(wall), report


def pandapipes_runs(network, runs):
    import pandapipes as pp
    import warnings
    warnings.simplefilter("ignore")
    doc = json.load(open(network))
    net = pipeflow_time.build(doc)
    pp.pipeflow(net, friction_model="nikuradse", mode="hydraulics", max_iter_hyd=100)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        pp.pipeflow(net, friction_model="nikuradse", mode="hydraulics", max_iter_hyd=100)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), dict(zip(net.junction["name"], net.res_junction["p_bar"]))


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--linepack", required=True)
    ap.add_argument("--memory", required=True)
    ap.add_argument("small")
    ap.add_argument("large")
    args = ap.parse_args()

    pp_ms, pp_pressures = pandapipes_runs(args.small, 7)
    lp_ms, lp_wall_ms, report = linepack_runs(args.linepack, args.small, 7)
    dp = max(abs(n["pressure_bar_g"] - pp_pressures[n["id"]]) for n in report["nodes"])

    large_ms, _, large = linepack_runs(args.linepack, args.large, 3)
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    mem = json.loads(subprocess.run([args.memory, args.large], check=True, capture_output=True, text=True).stdout)

    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    print(json.dumps({
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "rustc": rustc,
                    "python": platform.python_version()},
        "city_2500": {"nodes": len(report["nodes"]), "pipes": len(report["pipes"]),
                      "iterations": report["iterations"],
                      "pandapipes_pipeflow_ms": round(pp_ms, 2), "linepack_solve_ms": round(lp_ms, 3),
                      "ratio": round(pp_ms / lp_ms, 1),
                      "linepack_process_wall_ms": round(lp_wall_ms, 1),
                      "max_pressure_difference_bar": dp},
        "city_100000": {"nodes": len(large["nodes"]), "pipes": len(large["pipes"]),
                        "iterations": large["iterations"], "linepack_solve_ms": round(large_ms, 1),
                        "peak_solve_heap_mb": mem["peak_solve_heap_mb"],
                        "process_peak_rss_mb": round(rss_kb / 1024, 1)},
    }, indent=1))


if __name__ == "__main__":
    main()
