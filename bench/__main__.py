"""``python -m bench``: run every benchmark, print a table, write ``bench/results.json``."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import os

from bench import attachments, audit, retention

BENCHMARKS = {"attachments": attachments.run, "audit": audit.run, "retention": retention.run}


def main(argv: list[str]) -> None:
    if "--records" in argv:  # python -m bench retention --records 1000000
        at = argv.index("--records")
        os.environ["BENCH_RETENTION_RECORDS"] = argv[at + 1]
        argv = argv[:at] + argv[at + 2:]
    chosen = argv or list(BENCHMARKS)
    results = {"python": platform.python_version(), "machine": platform.machine(), "benchmarks": {}}
    for name in chosen:
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
        results["benchmarks"][name] = BENCHMARKS[name]()
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
