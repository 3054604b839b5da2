"""Issue #14 goal 4 on a GPU machine: one default-card run, then many runs packed onto one GPU.

Run from the checkout's root on a machine with a CUDA device (the project's tests cover the
same code on the CPU; this script is the measurement):

    .venv/bin/python benchmarks/gpu_sweep.py [--runs 100] [--jobs 8] [--out /tmp/gpu-sweep]

1. ``single``: ``facebench run`` of naive on the default card, person 0, ``--device cuda``, in a
   fresh process: the result file's ``timing`` (anchors, fine-tuning, evaluation, total, in
   seconds). Goal: total at most 10 s once anchors are cached.
2. ``packed``: ``facebench sweep`` of ``--runs`` runs (naive and er-rand K = 3 on every person
   of the default card, seeds 0, 1, ... as many as needed) with ``--jobs`` worker processes of
   1 torch thread each, every one on the same GPU (``FACEBENCH_DEVICE=cuda``), timed from the
   sweep's start to its end. Goal: 100 runs in at most 5 minutes.

Prints both and writes them as JSON to ``OUT/gpu-sweep.json``; the GPU's name comes from torch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

CARD = "faceworld"
PERSONS = 5
STRATEGIES = ("naive", "er-rand")


def facebench(*argv: str, env: dict) -> float:
    """Seconds a ``facebench`` command takes in a new process (it must succeed)."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "facebench.cli", *argv], env=env, check=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--out", default="/tmp/gpu-sweep")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_sweep: no CUDA device here; this measurement needs one")
    out = Path(args.out)
    env = {**os.environ, "FACEBENCH_DEVICE": "cuda"}
    report = {"gpu": torch.cuda.get_device_name(0), "cpus": os.cpu_count(), "jobs": args.jobs}

    single = out / "single"
    facebench("run", "--scenario", CARD, "--strategy", "naive", "--person", "0", "--threads", "1",
              "--out", str(single), env=env)
    (path,) = single.rglob("*.json")
    report["single"] = json.loads(path.read_text())["timing"]
    print("single run:", report["single"], flush=True)

    seeds = math.ceil(args.runs / (PERSONS * len(STRATEGIES)))
    seconds = facebench("sweep", "--scenario", CARD, "--strategies", ",".join(STRATEGIES), "--buffer-sizes", "3",
                        "--persons", "all", "--seeds", ",".join(map(str, range(seeds))), "--jobs", str(args.jobs),
                        "--threads", "1", "--out", str(out / "packed"), env=env)
    runs = len(list((out / "packed").rglob("*.json")))
    report["packed"] = {"runs": runs, "seconds": seconds, "runs_per_minute": 60 * runs / seconds}
    print("packed sweep:", report["packed"], flush=True)
    (out / "gpu-sweep.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
