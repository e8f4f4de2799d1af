"""Time pandapipes' pipeflow() on a Linepack network file.

Builds the pandapipes net from a network file v1 (not timed), then times
pipeflow() alone, the way `solve_time_ms` is timed: from a loaded network to
results in memory. Prints one JSON object: the median and all run times, and
the node pressures for a cross-check against `linepack sim steady --json`.

Usage: pipeflow_time.py NETWORK.json [--runs N] [--friction nikuradse|colebrook]
"""
import argparse
import json
import statistics
import sys
import time
import warnings

import pandapipes as pp
from pandapipes.properties.fluids import Fluid, FluidPropertyConstant, FluidPropertyLinear, _add_fluid_to_net

P_N = 1.01325


def ambient(h):
    return P_N * (1 - 0.0065 * h / 288.15) ** 5.255


def build(doc):
    gas = doc["gas"]
    comp = gas["compressibility"]
    if comp["model"] == "constant":
        z0, slope = comp["z"], 0.0
    else:
        z0, slope = comp["z0"], comp["per_bar"]
    fluid = Fluid(
        name=gas["name"], fluid_type="gas",
        density=FluidPropertyConstant(gas["density_normal_kg_m3"]),
        viscosity=FluidPropertyConstant(gas["viscosity_pa_s"]),
        heat_capacity=FluidPropertyConstant(2200.0),
        molar_mass=FluidPropertyConstant(16.6),
        compressibility=FluidPropertyLinear(slope, z0),
        der_compressibility=FluidPropertyConstant(slope),
        lhv=FluidPropertyConstant(13.9), hhv=FluidPropertyConstant(15.4),
    )
    net = pp.create_empty_network(name=doc["name"], add_stdtypes=False)
    _add_fluid_to_net(net, fluid)
    t_k = gas["temperature_k"]
    junction = {}
    for n in doc["nodes"]:
        junction[n["id"]] = pp.create_junction(net, pn_bar=5.0, tfluid_k=n.get("temperature_k", t_k),
                                               height_m=n["elevation_m"], name=n["id"])
    for p in doc["pipes"]:
        pp.create_pipe_from_parameters(net, junction[p["from"]], junction[p["to"]], length_km=p["length_m"] / 1000.0,
                                       inner_diameter_mm=p["diameter_mm"], k_mm=p["roughness_mm"],
                                       loss_coefficient=p.get("loss_coefficient", 0.0), name=p["id"],
                                       in_service=p.get("in_service", True))
    for v in doc.get("valves", []):
        pp.create_valve(net, junction[v["from"]], junction[v["to"]], et="ju", inner_diameter_mm=v["diameter_mm"],
                        opened=v["open"], loss_coefficient=v.get("loss_coefficient", 0.0), name=v["id"])
    for r in doc.get("regulators", []):
        pp.create_pressure_control(net, junction[r["from"]], junction[r["to"]], junction[r["to"]],
                                   controlled_p_bar=r["outlet_pressure_bar_g"], name=r["id"],
                                   in_service=r.get("in_service", True))
    for s in doc.get("supplies", []):
        pp.create_ext_grid(net, junction[s["node"]], p_bar=s["pressure_bar_g"], t_k=t_k, name=s["id"],
                           in_service=s.get("in_service", True))
    rho_n = gas["density_normal_kg_m3"]
    for c in doc.get("consumers", []):
        kg_s = c["demand_kg_s"] if "demand_kg_s" in c else c["demand_nm3_h"] * rho_n / 3600.0
        pp.create_sink(net, junction[c["node"]], mdot_kg_per_s=kg_s, name=c["id"], in_service=c.get("in_service", True))
    for i in doc.get("injections", []):
        pp.create_source(net, junction[i["node"]], mdot_kg_per_s=i["rate_kg_s"], name=i["id"],
                         in_service=i.get("in_service", True))
    return net


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("network")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--friction", default="nikuradse")
    args = ap.parse_args()
    doc = json.load(open(args.network))
    net = build(doc)
    warnings.simplefilter("ignore")
    pp.pipeflow(net, friction_model=args.friction, mode="hydraulics", max_iter_hyd=100)  # warm-up (imports, numba)
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        pp.pipeflow(net, friction_model=args.friction, mode="hydraulics", max_iter_hyd=100)
        times.append(time.perf_counter() - t)
    pressures = dict(zip(net.junction["name"], net.res_junction["p_bar"]))
    print(json.dumps({
        "pandapipes": pp.__version__,
        "converged": bool(net.converged),
        "median_ms": statistics.median(times) * 1e3,
        "runs_ms": [t * 1e3 for t in times],
        "pressure_bar_g": pressures,
    }))


if __name__ == "__main__":
    sys.exit(main())
