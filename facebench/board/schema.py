"""The standard result file (schema ``facebench.result/1``) and atomic writes.

One JSON file per (scenario, strategy and its parameters, person, seed). For every score
(``facebench.protocol.SCORES``) it holds the direction, the factor the paper prints it with,
the full matrix a[t][k] (T x T, null where k > t; 1 x T for a joint strategy, whose one model
is scored on every session), and AIP, forgetting, final average and BWT. Beside them: the
card and its hash, the strategy and its parameters, person, seed, the protocol settings,
seconds spent, and provenance (versions, git commit, device, threads).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from facebench import metrics
from facebench.protocol import SCORES

SCHEMA = "facebench.result/1"


def score_entry(matrix: np.ndarray, direction: str, scale: int) -> dict:
    """One score of a result file: its matrix and the summaries computed from it."""
    return {
        "direction": direction,
        "print_scale": scale,
        "matrix": [[_num(v) for v in row] for row in matrix.tolist()],
        **summaries(matrix, direction),
    }


def summaries(matrix: np.ndarray, direction: str) -> dict:
    """The summaries of a score matrix as a result file holds them: aip, forgetting,
    final_average, bwt; forgetting and bwt are None for a joint (1 x T) matrix, and so is any
    value that is not finite. The leaderboard checks a file's summaries against these."""
    higher = direction == "higher"
    joint = matrix.shape[0] == 1 and matrix.shape[1] > 1
    return {
        "aip": _num(metrics.aip(matrix, higher)),
        "forgetting": None if joint else _num(metrics.forgetting(matrix, higher)),
        "final_average": _num(metrics.final_average(matrix)),
        "bwt": None if joint else _num(metrics.bwt(matrix, higher)),
    }


def _num(x):
    return None if x is None or not math.isfinite(x) else float(x)


def provenance(device: str = "cpu") -> dict:
    """Where and with what a result was made (``device``: the torch device of the run)."""
    import avalanche

    import facebench

    return {
        "facebench": facebench.__version__,
        "git_commit": _git_commit(),
        "torch": torch.__version__,
        "avalanche": avalanche.__version__,
        "python": platform.python_version(),
        "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _git_commit() -> str | None:
    """HEAD of the checkout facebench runs from (with "-dirty" for uncommitted changes), else
    $FACEBENCH_GIT_COMMIT (set it where a copy without .git runs, e.g. a remote machine)."""
    if os.environ.get("FACEBENCH_GIT_COMMIT"):
        return os.environ["FACEBENCH_GIT_COMMIT"]
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def make_result(spec, entry, scenario, protocol, matrices: dict, timing: dict, memory: dict | None = None,
                device: str = "cpu") -> dict:
    """The result file's content for a finished run; ``memory``: what the strategy kept besides the
    model (``facebench.run.memory.kept_memory``)."""
    return {
        "schema": SCHEMA,
        "scenario": {"name": scenario.name, "card": scenario.card.data, "card_sha256": scenario.card.sha256},
        "strategy": {"name": spec.strategy, "kind": entry.kind, "params": dict(spec.params)},
        "person": spec.person,
        "seed": spec.seed,
        "sessions": int(next(iter(matrices.values())).shape[1]),
        "scores": {name: score_entry(matrices[name], *SCORES[name]) for name in SCORES},
        "timing": {k: round(float(v), 3) for k, v in timing.items()},
        "memory": memory or {"items": None, "bytes": 0, "bytes_per_item": None},
        "protocol": protocol.as_dict(),
        "provenance": provenance(device),
    }


def write_atomic(path: Path, payload: dict) -> None:
    """Write JSON to ``path`` through a temporary file and a rename: never half-written."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)


def save_atomic(path: Path, state: dict) -> None:
    """``torch.save`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def summary_rows(path: Path) -> list[tuple[str, ...]]:
    """Rows (score, better, AIP, forgetting, final average, print scale) of a result file, each
    number multiplied by the score's print scale, for a terminal table."""
    scores = json.loads(Path(path).read_text())["scores"]

    def fmt(value, scale):
        return "-" if value is None else f"{value * scale:.3f}"

    return [(name, s["direction"], fmt(s["aip"], s["print_scale"]), fmt(s["forgetting"], s["print_scale"]),
             fmt(s["final_average"], s["print_scale"]), f"x{s['print_scale']}") for name, s in scores.items()]
