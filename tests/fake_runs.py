"""A stand-in for facebench.run.runner.run in sweep tests: the same signature, a real process, tiny work.

It writes, as the run's result file, what the sweep arranged for it: its process id, its torch
threads, whether it was asked to resume, and the checkpoint it resumed from (then removed, as the
runner does). Strategy "broken" fails.
"""

import json
import os

import torch

from facebench.run.sweep import result_path


def run(spec, out, resume=False, force=False, progress=None):
    if spec.strategy == "broken":
        raise RuntimeError(f"cannot fine-tune person {spec.person}")
    path = result_path(spec, out)
    checkpoint = path.with_suffix(".ckpt")
    record = {"pid": os.getpid(), "threads": torch.get_num_threads(), "resume": resume,
              "from_checkpoint": checkpoint.read_text() if checkpoint.exists() else None}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    checkpoint.unlink(missing_ok=True)
    return path
