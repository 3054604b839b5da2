"""The sample size of a board's pre-registered tests from a pilot board (issue #16's power analysis).

Run from the checkout's root, on a folder of result files of the current protocol version:

    .venv/bin/python benchmarks/power_analysis.py PILOT_DIR [--json FILE] [--migrated-copy]

For each test of ``facebench.board.plan.TESTS``: the pilot's shared (person, seed) pairs, the sd
of the paired differences, and the pairs the test needs to detect its effect with 80% power at
Holm's first level alpha / m (``facebench.board.plan.sample_size``); then the plan's rule: a
board's primary rows run on max(20, the largest of those) pairs. The pilot must be the
development card's runs (``faceworld-dev`` or ``faceworld-life-dev``): a board card's runs
would let the board's own data choose its size. ``--migrated-copy`` reads a folder of an
earlier result schema through a migrated copy in a temporary folder (the pilot is not touched).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from facebench.board import plan
from facebench.board.load import load

FLOOR = 20
"""The fewest (person, seed) pairs of a board's primary rows, whatever the power analysis says."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pilot", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--migrated-copy", action="store_true")
    args = parser.parse_args()
    folder = args.pilot
    if args.migrated_copy:
        folder = Path(tempfile.mkdtemp(prefix="facebench-pilot-")) / args.pilot.name
        shutil.copytree(args.pilot, folder)
        subprocess.run([sys.executable, "-m", "facebench.cli", "leaderboard", str(folder), "--migrate"],
                       check=True, stdout=subprocess.DEVNULL)
    board = load(folder)
    sizes = plan.sample_size(board)
    with pd.option_context("display.width", 160, "display.max_colwidth", 70):
        print(f"pilot {args.pilot} ({board.scenario}, protocol {board.protocol_version}, {board.files} files)")
        print(sizes.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    needed = sizes["pairs_needed"].max()
    rule = max(FLOOR, int(needed)) if math.isfinite(needed) else FLOOR
    missing = sizes.loc[sizes["pairs_needed"].isna(), "test"].tolist()
    print(f"\nthe plan's rule: max({FLOOR}, {needed:.0f}) = {rule} pairs"
          + (f"; no estimate for: {', '.join(missing)}" if missing else ""))
    if args.json:
        args.json.write_text(json.dumps({
            "pilot": str(args.pilot), "scenario": board.scenario, "protocol_version": board.protocol_version,
            "files": board.files, "floor": FLOOR, "pairs": rule, "no_estimate": missing,
            "tests": json.loads(sizes.to_json(orient="records"))}, indent=1) + "\n")


if __name__ == "__main__":
    main()
