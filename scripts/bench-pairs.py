#!/usr/bin/env python3
"""Every benchmark of the named criterion groups over several passes: median (min-max, n).

For the benches whose ratios have no table in scripts/bench-ratios.py (server_floor,
stock_rustls): a paired-ratio group's estimate is the ratio itself (see
qtls-test-support/src/bench.rs); a per-operation group's is a time in ns.

Usage: scripts/bench-pairs.py [--dir CRITERION_DIR] GROUP[,GROUP...] BASELINE ...
  e.g. scripts/bench-pairs.py server-floor,server-floor-ratio p1 p2 p3
"""

import argparse
import json
import pathlib
import statistics


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="target/criterion", type=pathlib.Path)
    parser.add_argument("groups")
    parser.add_argument("baselines", nargs="+")
    args = parser.parse_args()
    groups = args.groups.split(",")
    values = {}
    for baseline in args.baselines:
        for bench in args.dir.glob(f"**/{baseline}/benchmark.json"):
            meta = json.loads(bench.read_text())
            if meta["group_id"] not in groups:
                continue
            estimates = bench.with_name("estimates.json")
            if not estimates.exists():
                continue
            mean = json.loads(estimates.read_text())["mean"]["point_estimate"]
            values.setdefault((meta["group_id"], meta["function_id"]), []).append(mean)
    if not values:
        raise SystemExit(f"no estimates for {groups} in {args.baselines}")
    print("| benchmark | median | range | n |\n|---|---:|---|---:|")
    for (group, function), vs in sorted(values.items(), key=lambda kv: (groups.index(kv[0][0]), kv[0][1])):
        ratio = "ratio" in group
        fmt = (lambda v: f"{v:.3f}") if ratio else (lambda v: f"{v / 1e3:.1f} µs")
        print(
            f"| {group}/{function} | {fmt(statistics.median(vs))} "
            f"| {fmt(min(vs))}–{fmt(max(vs))} | {len(vs)} |"
        )


if __name__ == "__main__":
    main()
