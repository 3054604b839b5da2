"""A run under this facebench's protocol against a run of version 1's cost, side by side (issue #14 goal 1).

Run from the checkout's root on a quiet machine (each run in its own process, one after the
other, the same threads):

    .venv/bin/python benchmarks/run_time.py [--card faceworld] [--strategy naive] [--person 0] [--threads 2]

Version 1's code is not in this tree (``facebench.protocol.VERSIONS``), so its cost is measured
as this code with version 1's amounts of work set in a copy of the card's ``protocol`` section
(``V1_WORK``: 50 fine-tuning steps per session, 10 inversion steps per evaluated image, 20 P0
samples per session). What version 2 changed beside the amounts (the replay dose, the Adam
reset) costs nothing measurable. Each run writes its result file; the table reads the file's
``timing`` (seconds): anchors (once per person and card: each copy is a card of its own, so
its first run computes them and later runs read the cache: 0), fine-tuning, evaluation, and the
run without anchors, which is what a sweep pays per run once a person's anchors are cached. The ratio current / version-1 is goal 1's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from facebench.data.cards import load_card

V1_WORK = {"steps_per_session": 50, "joint_steps": 500, "eval_steps": 10, "synthesis_samples": 20}
"""Version 1's amounts of work (its other settings cost the same as version 2's)."""


def timed_run(card: Path, strategy: str, person: str, threads: int, out: Path) -> dict:
    """The ``timing`` of the result file a fresh ``facebench run`` of ``card`` writes."""
    subprocess.run([sys.executable, "-m", "facebench.cli", "run", "--scenario", str(card), "--strategy", strategy,
                    "--person", person, "--threads", str(threads), "--out", str(out)], check=True)
    (path,) = out.rglob("*.json")
    return json.loads(path.read_text())["timing"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--card", default="faceworld")
    parser.add_argument("--strategy", default="naive")
    parser.add_argument("--person", default="0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="also write the timings as JSON here")
    args = parser.parse_args()
    card = load_card(args.card)
    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, work in (("version 1's work", V1_WORK), ("this protocol", {})):
            tag = name.replace(" ", "-").replace("'", "")
            folder = Path(tmp) / tag
            folder.mkdir()
            data = {**card.data, "protocol": {**card.data.get("protocol", {}), **work}}
            path = folder / f"{card.name}-{tag}.yaml"  # a stock card's name would claim its hash
            path.write_text(yaml.safe_dump(data, sort_keys=False))
            timings[name] = timed_run(path, args.strategy, args.person, args.threads, folder / "runs")
    for timing in timings.values():
        timing["run_s"] = timing["total_s"] - timing["anchors_s"]
    table = Table(title=f"{args.strategy} on {args.card} person {args.person}, {args.threads} threads (seconds)")
    columns = ("anchors_s", "train_s", "eval_s", "run_s")
    table.add_column("work")
    for column in columns:
        table.add_column(column, justify="right")
    for name, timing in timings.items():
        table.add_row(name, *(f"{timing[c]:.1f}" for c in columns))
    Console().print(table)
    ratio = timings["this protocol"]["run_s"] / timings["version 1's work"]["run_s"]
    print(f"run without anchors, this protocol / version 1's work: {ratio:.2f} (goal: at most 1.0, stretch 0.5)")
    if args.out:
        Path(args.out).write_text(json.dumps({"card": args.card, "strategy": args.strategy, "person": args.person,
                                              "threads": args.threads, "timing": timings, "ratio": ratio},
                                             indent=1) + "\n")


if __name__ == "__main__":
    main()
