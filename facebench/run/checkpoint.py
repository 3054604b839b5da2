"""Checkpoints of a run: what a killed run needs to continue after its last finished session.

A checkpoint lies beside the run's result file (``.ckpt``) and is written atomically after
every session, as a signed file (``facebench.signed``: refused before anything of it is
unpickled unless this user's facebench on this machine wrote it). Its header names the run and
its inputs (``header``: the spec, the card's hash, the hash of the person's images, the
protocol's settings, the generic models' sha256s), so a checkpoint resumes only the very run
that wrote it, on the same inputs. Its state: the sessions done, the generator's weights (the
optimizer starts afresh with every session: ``facebench.run.template``), the template's clock (plugins such as EWC read its ``train_exp_counter``),
the strategy's plugins (pickled) with the buffer history (its hash and its record of the buffers'
items, ``facebench.run.history``), the
evaluator's state (score matrices so far and the latents
its warm starts continue from), the seconds spent so far
(fine-tuning, evaluation, anchors, all) and the global random generators' state
(``facebench.seeding``). ``restore`` puts all of it back, so that a resumed run ends with
exactly the numbers of an uninterrupted one (same machine, same threads).
"""

from __future__ import annotations

import pickle
from pathlib import Path

from facebench.errors import FacebenchError
from facebench.seeding import global_state, set_global_state
from facebench.signed import SignedFileError, load_signed, save_signed


class CheckpointError(FacebenchError):
    """A checkpoint that cannot be read or belongs to another run."""


def header(spec, *, card_sha256: str, images_sha256: str, protocol: dict, models: dict) -> dict:
    """What a checkpoint belongs to: the run ``spec`` (strategy, parameters, scenario, person,
    seed) on these inputs (card hash, images hash, protocol settings, model sha256s by role)."""
    run = {"strategy": spec.strategy, "params": dict(spec.params), "scenario": spec.scenario,
           "person": spec.person, "seed": spec.seed}
    return {"run": run, "card_sha256": card_sha256, "images_sha256": images_sha256, "protocol": dict(protocol),
            "models": dict(models)}


def save(path: Path, header: dict, *, sessions_done: int, generator, template, plugins, evaluator, history,
         anchors_s: float, elapsed_s: float) -> None:
    """Write the checkpoint of the run ``header`` names after ``sessions_done`` sessions."""
    save_signed(path, header, {
        "sessions_done": sessions_done,
        "generator": generator.state_dict(),
        "clock": dict(vars(template.clock)),
        "plugins": pickle.dumps(plugins),
        "evaluator": evaluator.state_dict(),
        "buffer_history": history.sha256,
        "seconds": {"train_s": template.budget.seconds, "eval_s": evaluator.seconds, "anchors_s": anchors_s,
                    "elapsed_s": elapsed_s},
        "rng": global_state(),
    })


def load(path: Path, header: dict) -> dict:
    """The state of the checkpoint at ``path``, which must belong to the run ``header`` names;
    ``CheckpointError`` naming the file otherwise (nothing of a foreign file is unpickled)."""
    try:
        return load_signed(path, header, "checkpoint")
    except SignedFileError as error:
        raise CheckpointError(f"{error}; delete it to start the run over, or change --out") from None


def restore(state: dict, *, generator, template, plugins, evaluator, history) -> int:
    """Put a loaded checkpoint back into a freshly built run; returns the sessions done.

    The global random generators are restored last, after everything that might draw from them.
    """
    generator.load_state_dict(state["generator"])
    vars(template.clock).update(state["clock"])
    for mine, saved in zip(plugins, pickle.loads(state["plugins"])):
        mine.__dict__.update(saved.__dict__)
    evaluator.load_state_dict(state["evaluator"])
    history.sha256 = state["buffer_history"]
    template.budget.seconds = state["seconds"]["train_s"]
    set_global_state(state["rng"])
    return state["sessions_done"]
