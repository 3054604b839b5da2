"""Start-up time of the cheap facebench commands: `facebench --help`, `facebench strategies`,
`facebench scenarios`, each in a new process, best of N (default 3), as a table.

Run from the checkout's root:

    .venv/bin/python benchmarks/cli_startup.py [--repeat 3]

The target is at most 2 s each. `strategies` is measured twice: "cold" with an empty cache
folder ($FACEBENCH_CACHE; discovery imports every strategy module, hence Avalanche and torch) and
"warm" (the listing read from the cache that the cold run wrote, as on every later call while no
strategy module or plugin changes). `scenarios` reads cards only (no torch).
Timings depend on the machine's load: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = [("--help", ["--help"], False), ("strategies (cold cache)", ["strategies"], True),
            ("strategies (warm cache)", ["strategies"], False), ("scenarios", ["scenarios"], False)]
LIMIT = 2.0


def timed(argv: list[str], env: dict) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "facebench.cli", *argv], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per command; the best is shown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "FACEBENCH_CACHE": cache, "OMP_NUM_THREADS": "1"}
        rows = []
        for label, argv, cold in COMMANDS:
            times = []
            for _ in range(args.repeat):
                if cold:
                    (Path(cache) / "strategies.json").unlink(missing_ok=True)
                times.append(timed(argv, env))
            rows.append((label, min(times), max(times)))
    print(f"{'command':<36}{'best s':>8}{'worst s':>9}  <= {LIMIT:.0f} s")
    for label, best, worst in rows:
        print(f"{'facebench ' + label:<36}{best:>8.2f}{worst:>9.2f}  {'yes' if best <= LIMIT else 'NO'}")
    print(f"({args.repeat} runs each, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
