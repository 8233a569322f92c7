"""``python -m bench [NAME ...] [--records N]``: run the benchmarks (all by default), print a
table and write ``bench/results.json``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

BENCHMARKS = ("api", "attachments", "audit", "retention", "console", "scale")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default all)")
    parser.add_argument("--records", type=int, help="records in the store the api, console and retention benchmarks use (BENCH_RECORDS)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")
    if args.records is not None:
        if args.records < 1:
            parser.error("--records must be at least 1")
        os.environ["BENCH_RECORDS"] = str(args.records)  # read when the module is imported, below
        os.environ["BENCH_RETENTION_RECORDS"] = str(args.records)
    from bench import api, attachments, audit, console, retention, scale

    runners = {"api": api.run, "attachments": attachments.run, "audit": audit.run, "retention": retention.run,
               "console": console.run, "scale": scale.run}
    out = Path(__file__).with_name("results.json")
    # Running some benchmarks keeps the figures of the others from earlier runs.
    try:
        earlier = json.loads(out.read_text()).get("benchmarks", {})
    except (OSError, ValueError):
        earlier = {}
    results = {"python": platform.python_version(), "machine": platform.machine(), "benchmarks": dict(earlier)}
    for name in args.names or BENCHMARKS:
        results["benchmarks"][name] = runners[name]()
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
