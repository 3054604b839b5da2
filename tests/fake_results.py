"""Synthetic result files, made by facebench.board.schema.make_result, so they follow the schema exactly.

A run's score matrix: a[t][k] = level + drift * (t - k) + noise for k <= t, where ``drift``
moves a score the bad way (forgetting); a joint run is one row, a[k] = level + noise. ``quality``
shifts every level the good way, so a board's order is known in advance.
"""

from __future__ import annotations

import json
import zlib
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np

from facebench.board import schema as results
from facebench.data.cards import load_card
from facebench.protocol import Protocol
from facebench.run.runner import RunSpec

#: score -> (level, size of one unit of quality or drift), the sign making it worse when added.
LEVELS = {
    "recon_perceptual": (0.12, 0.01),
    "recon_identity": (0.90, -0.01),
    "recon_psnr": (24.0, -0.5),
    "recon_ssim": (0.80, -0.01),
    "synth_frechet": (60.0, 5.0),
    "synth_identity": (0.80, -0.01),
    "synth_kid": (0.02, 0.002),
}
#: A strategy's kind; the others are sequential.
KINDS = {"joint": "joint", "cumulative": "cumulative"}
#: What every fake strategy keeps besides the model: nothing.
MEMORY = {"items": None, "bytes": 0, "bytes_per_item": None}
MODELS = {role: role[0] * 64 for role in ("generator", "encoder", "perceptual", "identity")}
_provenance_once = cache(results.provenance)  # git and torch asked once per test session


def _provenance(device: str) -> dict:
    """The provenance of this session's first result: a copy, which a test may spoil."""
    return dict(_provenance_once(device))


def matrices(sessions: int, joint: bool, quality: float, drift: float, rng: np.random.Generator) -> dict:
    t, k = np.indices((sessions, sessions))
    out = {}
    for name, (level, unit) in LEVELS.items():
        noise = rng.normal(0, abs(unit) * 0.3, (sessions, sessions))
        if joint:
            out[name] = (level - quality * unit + noise[:1]).astype(float)
        else:
            out[name] = np.where(k <= t, level + unit * (drift * (t - k) - quality) + noise, np.nan)
    return out


def replay_record(sessions: int, buffer_size: int, per_session: int) -> dict:
    """A replay buffers' record (``replay_buffer``) of a buffer of K items (at most 10, whatever K)
    through ``sessions`` sessions: after experience t, item i is of session i * t // (K - 1)
    (spread over sessions 0 .. t), its index i mod ``per_session``; the final buffer's sessions
    are at hull distance 0, the others at 1 + k / 10."""
    buffer_size = min(buffer_size, 10)
    held = [[i * t // max(buffer_size - 1, 1) for i in range(buffer_size)] for t in range(sessions)]
    return {"sessions": held, "items": [[i % per_session for i in range(buffer_size)] for _ in held],
            "hull_distance": [0.0 if k in held[-1] else 1.0 + k / 10 for k in range(sessions)]}


def result(strategy: str = "er-rand", buffer_size: int | None = 3, person: str = "0", seed: int = 0,
           scenario: str = "faceworld-quick", quality: float = 0.0, drift: float = 1.0,
           replay_buffer: dict | None | str = "auto") -> dict:
    """One valid result: the run (strategy, buffer_size, person, seed) of the stock card ``scenario``;
    ``replay_buffer``: its record, "auto" for :func:`replay_record`'s where it has a buffer (none
    without)."""
    card = load_card(scenario)
    sessions = card.data["source"]["sessions"]
    params = {} if buffer_size is None else {"buffer_size": buffer_size}
    spec = RunSpec(strategy, params, card.name, str(person), int(seed))
    rng = np.random.default_rng([zlib.crc32(strategy.encode()), buffer_size or 0, int(person), seed])
    kind = KINDS.get(strategy, "sequential")
    scores = matrices(sessions, kind == "joint", quality, drift, rng)
    if replay_buffer == "auto":
        replay_buffer = None if buffer_size is None else replay_record(sessions, buffer_size,
                                                                       card.data["source"]["train_per_session"])
    with mock.patch.object(results, "provenance", _provenance):
        return results.make_result(spec=spec, kind=kind, scenario=SimpleNamespace(name=card.name, card=card),
                                   protocol=Protocol(), matrices=scores, timing={"total_s": 1.0}, memory=dict(MEMORY),
                                   device="cpu", models=MODELS, images_sha256=f"{person:0>64}",
                                   seed_varies=["batch_order", "p0_samples", "buffer"],
                                   buffer_history_sha256=None if buffer_size is None else f"{seed:0>64}",
                                   replay_buffer=replay_buffer,
                                   strategy_source={"module": f"fake.{strategy}", "sha256": "a" * 64,
                                                    "distribution": None, "version": None})


def write(data: dict, out: Path, name: Path | str | None = None) -> Path:
    """Write ``data`` where the runner would, ``out/<scenario>/<strategy>[-k<K>]/person<P>-seed<S>.json``,
    or at ``out / name``, as it is (not through ``schema.write_result``, which refuses an invalid
    document, NaN included), so that tests can write bad files too."""
    strategy = data["strategy"]
    spec = RunSpec(strategy["name"], strategy["params"], data["scenario"]["name"], data["person"], data["seed"])
    path = Path(out) / name if name else spec.result_path(Path(out), data["scenario"]["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, allow_nan=True) + "\n")
    return path


#: A small board: strategy -> (buffer sizes or [None], quality, drift).
BOARD = {
    "naive": ([None], 0.0, 3.0),
    "joint": ([None], 3.0, 0.0),
    "er-rand": ([3, 5], 1.0, 1.5),
    "er-hull": ([3, 5], 1.5, 1.0),
}


def write_board(out: Path, board: dict = BOARD, persons=("0", "1", "2"), seeds=(0,),
                scenario: str = "faceworld-quick") -> list[Path]:
    """Every run of ``board`` for ``persons`` x ``seeds`` under ``out/<scenario>``; the larger K,
    the better (K/3 quality)."""
    paths = []
    for strategy, (sizes, quality, drift) in board.items():
        for k in sizes:
            bonus = 0.0 if k is None else k / 3
            for person in persons:
                for seed in seeds:
                    data = result(strategy, k, person, seed, scenario, quality + bonus, drift / (1 + bonus))
                    paths.append(write(data, out))
    return paths


def with_params(data: dict, **params) -> dict:
    """``data`` with more strategy parameters, so that its method's name is longer
    (``ewc decay_factor=1.0 ewc_lambda=100000.0``); its file goes where the runner would put it."""
    data["strategy"]["params"].update(params)
    return data
