"""A pandapipes 0.16.0 reference converged to tight tolerances.

The shipped fixtures were computed with pandapipes' default tolerances
(changes below 1e-4 m/s and 1e-4 bar); where flows are below 1 mm/s that
stops Newton early. This runs pipeflow() with every tolerance at 1e-12 and
writes the results in the shape of `<name>.expected.json`.

Usage: tight_reference.py NETWORK.json --law colebrook -o OUT.json
"""
import argparse
import json
import warnings

import pandapipes as pp

import pipeflow_time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("network")
    ap.add_argument("--law", default="colebrook")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    doc = json.load(open(args.network))
    net = pipeflow_time.build(doc)
    pp.pipeflow(net, friction_model=args.law, mode="hydraulics", max_iter_hyd=500, max_iter_colebrook=500,
                tol_p=1e-12, tol_m=1e-14, tol_v=1e-12, tol_res=1e-12)
    assert net.converged
    result = {
        "nodes": [{"id": i, "pressure_bar_g": p} for i, p in zip(net.junction["name"], net.res_junction["p_bar"])],
        "pipes": [{"id": i, "flow_kg_s": m, "velocity_m_s": v} for i, m, v in
                  zip(net.pipe["name"], net.res_pipe["mdot_from_kg_per_s"], net.res_pipe["v_mean_m_per_s"])],
        "valves": [{"id": i, "flow_kg_s": (m if o else None)} for i, m, o in
                   zip(net.valve["name"], net.res_valve["mdot_from_kg_per_s"], net.valve["opened"])],
        "supplies": [{"id": i, "flow_kg_s": -m} for i, m in zip(net.ext_grid["name"], net.res_ext_grid["mdot_kg_per_s"])],
    }
    json.dump({
        "name": doc["name"],
        "source": f"pandapipes {pp.__version__} pipeflow, hydraulics mode, all tolerances 1e-12 "
                  "(benches/pandapipes/tight_reference.py)",
        "results": {args.law: result},
    }, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
