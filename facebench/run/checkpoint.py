"""Checkpoints of a run: what a killed run needs to continue after its last finished session.

A checkpoint lies beside the run's result file (``.ckpt``) and is written atomically after
every session. It holds the run's spec (a checkpoint resumes only the run that wrote it), the
sessions done, the generator's weights, the optimizer's state, the template's clock (plugins
such as EWC read its ``train_exp_counter``), the strategy's plugins (pickled), the score
matrices so far, the seconds spent so far (fine-tuning, evaluation, anchors, all) and the
global random generators' state (``facebench.seeding``). ``restore`` puts all of it back, so
that a resumed run ends with exactly the numbers of an uninterrupted one (same machine, same
threads).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from facebench.atomic import save_torch
from facebench.errors import FacebenchError
from facebench.seeding import global_state, set_global_state


class CheckpointError(FacebenchError):
    """A checkpoint that cannot be read or belongs to another run."""


def save(path: Path, *, spec, sessions_done: int, generator, template, plugins, evaluator,
         anchors_s: float, elapsed_s: float) -> None:
    """Write the checkpoint of ``spec`` after ``sessions_done`` sessions."""
    save_torch(path, {
        "spec": spec,
        "sessions_done": sessions_done,
        "generator": generator.state_dict(),
        "optimizer": template.optimizer.state_dict(),
        "clock": dict(vars(template.clock)),
        "plugins": pickle.dumps(plugins),
        "matrices": evaluator.matrices,
        "seconds": {"train_s": template.budget.seconds, "eval_s": evaluator.seconds, "anchors_s": anchors_s,
                    "elapsed_s": elapsed_s},
        "rng": global_state(),
    })


def load(path: Path, spec) -> dict:
    """The checkpoint at ``path``, which must have been written by the run ``spec``."""
    try:
        state = torch.load(path, weights_only=False)
    except Exception as error:
        raise CheckpointError(f"checkpoint {path} cannot be read ({error}); delete it to start the run over") from None
    if not isinstance(state, dict) or "spec" not in state:
        raise CheckpointError(f"{path} is not a facebench checkpoint; delete it to start the run over")
    if state["spec"] != spec:
        raise CheckpointError(f"checkpoint {path} belongs to another run ({state['spec']}); delete it or change --out")
    return state


def restore(state: dict, *, generator, template, plugins, evaluator) -> int:
    """Put a loaded checkpoint back into a freshly built run; returns the sessions done.

    The global random generators are restored last, after everything that might draw from them.
    """
    generator.load_state_dict(state["generator"])
    template.pending_optimizer_state = state["optimizer"]
    vars(template.clock).update(state["clock"])
    for mine, saved in zip(plugins, pickle.loads(state["plugins"])):
        mine.__dict__.update(saved.__dict__)
    evaluator.matrices = state["matrices"]
    evaluator.seconds = state["seconds"]["eval_s"]
    template.budget.seconds = state["seconds"]["train_s"]
    set_global_state(state["rng"])
    return state["sessions_done"]
