"""The process's global random generators: seeding them, saving and restoring their state.

"Global" means torch's default generator, numpy's legacy global generator and Python's
``random``. A run seeds them once with its seed (``seed_globals``); a checkpoint saves their
state (``global_state``) and a resumed run restores it (``set_global_state``), so that it
draws exactly what the uninterrupted run would have drawn.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_globals(seed: int) -> None:
    """Seed torch, numpy (``seed mod 2**32``) and Python's ``random`` with ``seed``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def global_state() -> dict:
    """The state of the three global generators: ``{"torch", "numpy", "python"}``."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_global_state(state: dict) -> None:
    """Restore what ``global_state`` returned."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
