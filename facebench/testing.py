"""The conformance kit (public): does a strategy keep facebench's plugin contract?

``check_strategy(name_or_class)`` is to a strategy what scikit-learn's ``check_estimator`` is
to an estimator: call it in your strategy's test. It returns a :class:`Report` of the checks
passed, or raises :class:`ConformanceError` naming the first check that failed and what the
strategy did. A class or factory that is not registered is checked as if registered with the
defaults (a sequential strategy).

Every strategy must have a description (the first line of its docstring, shown by
``facebench strategies``) and plugins that survive ``pickle`` (checkpoints pickle them).

A replay strategy is driven the way a run drives it, with no models: the registry makes its
``ReplayPlugin`` for the run's seed, the global random generators are seeded as the runner
seeds them, and after each session of a synthetic stream the plugin's ``after_training_exp``
gets an object whose ``experience.dataset`` is the session's items, built by
``facebench.data.items.items_dataset`` as the runner builds them. Its checks:

- at every session, the first (one session in the pool) included, the buffer holds at most K
  items, and they are distinct, whole items (latent, image, session) of the pool = (the buffer
  before) + (the session's items);
- so it does at K = 1 and at a K larger than every pool;
- the same seed gives the same selections;
- ``ReplayBuffer`` subclasses draw randomness only from ``rng``: other global random states
  (numpy, random, torch) give the same selections;
- checkpoint and resume: plugins pickled after session 2 and restored into fresh plugins (as
  the runner resumes), and, where the buffer has them, ``state_dict``/``load_state_dict`` into
  a fresh buffer, go on to the selections of the uninterrupted run;
- selection time: one update at a pool of 30 items with D = 128 and K = 5 takes at most
  ``TIME_LIMIT_S`` seconds (its time is in the report).

A non-replay strategy (a plugin factory): its kind is sequential or joint, and its factory
returns a list of Avalanche plugins (with ``buffer_size`` = K unless ``params`` gives one, if it
takes one).
"""

from __future__ import annotations

import pickle
import random
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch
from avalanche.core import BasePlugin

from facebench import registry
from facebench.errors import FacebenchError
from facebench.data.items import items_dataset
from facebench.replay import ReplayBuffer

SIZES, DIM, K = (5, 4, 1, 6), 16, 3
"""The stream of the functional checks: items per session, latent dimension, the usual K."""
RESUME_AFTER = 2
"""Sessions done when the checkpoint of the resume check is taken."""
TIMED_SIZES, TIMED_DIM, TIMED_K = (5, 25), 128, 5
"""The timed stream: its second update chooses from a pool of 5 + 25 = 30 items."""
UNKNOWN_HINT = ("; a strategy is found when its module is in facebench's strategies/ folder, or when the "
                "package that declares its entry point (group facebench.strategies) is installed")
"""Added to the message of an unknown name."""
TIME_LIMIT_S = 10.0
"""The most seconds one update of the timed stream may take: a guard against the absurd."""


class ConformanceError(FacebenchError):
    """A strategy that breaks the plugin contract: ``check`` failed, the message says how."""

    def __init__(self, strategy: str, check: str, detail: str):
        super().__init__(f"strategy '{strategy}' fails the check '{check}': {detail}")
        self.strategy, self.check, self.detail = strategy, check, detail


@dataclass(frozen=True)
class Report:
    """The checks a strategy passed, in order, and the seconds of one update at pool 30, D 128
    (None for a strategy without a buffer)."""

    strategy: str
    checks: tuple[str, ...]
    select_seconds: float | None

    def __str__(self) -> str:
        timed = "" if self.select_seconds is None else f"; update at pool 30, D 128: {self.select_seconds:.3f} s"
        return f"{self.strategy}: {len(self.checks)} checks passed ({', '.join(self.checks)}){timed}"


class _Failed(Exception):
    """Raised inside a check; ``check_strategy`` names the check."""


def check_strategy(strategy: str | type | Callable, params: dict | None = None, seed: int = 0) -> Report:
    """Check ``strategy`` (a registered name, or a buffer class or plugin factory) against the
    contract, with its other parameters ``params`` (default: its defaults; the kit chooses K)
    and the run seed ``seed``. The global random states are left as they were."""
    try:
        entry = _entry(strategy)
        params = entry.resolve_params({"buffer_size": K, **(params or {})} if entry.takes_buffer_size else params)
        if entry.is_replay:
            params.pop("buffer_size")  # the kit chooses K
    except registry.StrategyError as error:
        name = strategy if isinstance(strategy, str) else getattr(strategy, "__name__", repr(strategy))
        unknown = isinstance(strategy, str) and strategy not in {e.name for e in registry.list_strategies()}
        raise ConformanceError(name, "registration", str(error) + (UNKNOWN_HINT if unknown else "")) from None
    checks = _replay_checks(entry, params, seed) if entry.is_replay else _factory_checks(entry, params, seed)
    passed, seconds = [], None
    saved = _global_state()
    try:
        for name, check in checks:
            try:
                timed = check()  # the seconds of a timed check, else None
            except _Failed as failure:
                raise ConformanceError(entry.name, name, str(failure)) from failure.__cause__
            seconds = timed if timed is not None else seconds
            passed.append(name)
    finally:
        _set_global_state(saved)
    return Report(entry.name, tuple(passed), seconds)


def _entry(strategy) -> registry.StrategyEntry:
    """The registry's entry of a name or of a registered target; else the entry it would get."""
    if isinstance(strategy, str):
        return registry.get_strategy(strategy)
    for entry in registry.list_strategies():
        if entry.target is strategy:
            return entry
    return registry._entry(getattr(strategy, "__name__", repr(strategy)), strategy, "sequential", False)


def _described(entry: registry.StrategyEntry) -> None:
    if not entry.description:
        raise _Failed("it has no description: start the docstring of its class or factory with one line "
                      "that says what it does (`facebench strategies` shows it)")


def _factory_checks(entry: registry.StrategyEntry, params: dict, seed: int) -> list:
    made = {}

    def plugins():
        try:
            made["plugins"] = entry.plugins(params, seed=seed)
        except registry.StrategyError as error:
            raise _Failed(str(error).removeprefix(f"strategy '{entry.name}': ")) from None
        except Exception as error:
            raise _Failed(f"its factory raised {type(error).__name__}: {error}") from error
        wrong = [f"item {i} is a {type(p).__name__}" for i, p in enumerate(made["plugins"])
                 if not isinstance(p, BasePlugin)]
        if wrong:
            raise _Failed(f"its factory must return a list of Avalanche plugins (e.g. SupervisedPlugin "
                          f"instances); {', '.join(wrong)}")

    def picklable():
        _pickled(made["plugins"], "its plugins")

    return [("described", lambda: _described(entry)), ("plugins", plugins), ("picklable", picklable)]


def _replay_checks(entry: registry.StrategyEntry, params: dict, seed: int) -> list:
    driver = _Driver(entry, params, seed)
    stream = _Stream.make(SIZES, DIM)
    reference = {}

    def stream_at_k():
        reference["kept"] = driver.whole(stream, K)

    def stream_at(k: int):
        def check():
            driver.whole(stream, k)
        return check

    def same_seed():
        _same(reference["kept"], driver.whole(stream, K), f"a second run with seed {seed}")

    def rng_only():
        _same(reference["kept"], driver.whole(stream, K, global_seed=seed + 1),
              "with the same seed but other global random states (numpy, random, torch), it",
              "; select must draw randomness only from the rng it is given")

    def picklable():
        plugins = driver.plugins(K)
        driver.drive(plugins, stream, K, [0])
        _pickled(plugins, "its plugins after the first session")

    def resume(restore: Callable[[list, list], None], how: str):
        plugins = driver.plugins(K)
        before = driver.drive(plugins, stream, K, range(RESUME_AFTER))
        state = _global_state()
        restored = driver.plugins(K)
        restore(plugins, restored)
        _set_global_state(state)
        after = driver.drive(restored, stream, K, range(RESUME_AFTER, len(SIZES)), held=before[-1])
        _same(reference["kept"], before + after, f"a run resumed after session {RESUME_AFTER - 1} {how}")

    def from_pickle(plugins, restored):  # as the runner resumes a run
        for mine, saved in zip(restored, pickle.loads(_pickled(plugins, "its plugins"))):
            mine.__dict__.update(saved.__dict__)

    def from_state_dict(plugins, restored):
        state = pickle.loads(_pickled(_policy(plugins).state_dict(), "its state_dict"))
        _policy(restored).load_state_dict(state)

    def selection_time() -> float:
        timed = _Stream.make(TIMED_SIZES, TIMED_DIM)
        plugins = driver.plugins(TIMED_K)
        [held] = driver.drive(plugins, timed, TIMED_K, [0])
        start = time.perf_counter()
        driver.drive(plugins, timed, TIMED_K, [1], held=held)
        seconds = time.perf_counter() - start
        if seconds > TIME_LIMIT_S:
            raise _Failed(f"one update at a pool of {sum(TIMED_SIZES)} items (D = {TIMED_DIM}, K = {TIMED_K}) "
                          f"took {seconds:.1f} s, more than {TIME_LIMIT_S:g} s")
        return seconds

    checks = [
        ("described", lambda: _described(entry)),
        (f"stream at K = {K}", stream_at_k),
        ("K = 1", stream_at(1)),
        ("K larger than the pool", stream_at(len(stream) + 1)),
        ("same seed, same selections", same_seed),
    ]
    if issubclass(entry.target, ReplayBuffer):
        checks.append(("randomness from rng only", rng_only))
    checks += [("picklable", picklable),
               ("resume from pickle", lambda: resume(from_pickle, "from its pickled plugins"))]
    if hasattr(entry.target, "state_dict") and hasattr(entry.target, "load_state_dict"):
        checks.append(("resume from state_dict",
                       lambda: resume(from_state_dict, "by load_state_dict into a fresh buffer")))
    return checks + [("selection time", selection_time)]


@dataclass(frozen=True)
class _Stream:
    """Synthetic sessions of latents clustered by session; item j (in stream order) has an image
    whose every pixel is j, which names it."""

    latents: torch.Tensor
    images: torch.Tensor
    sessions: tuple[int, ...]
    datasets: tuple

    @classmethod
    def make(cls, sizes: tuple[int, ...], dim: int) -> "_Stream":
        g = torch.Generator().manual_seed(0)
        centres = 3.0 * torch.randn(len(sizes), dim, generator=g)
        latents = torch.cat([c + 0.5 * torch.randn(n, dim, generator=g) for c, n in zip(centres, sizes)])
        images = torch.arange(len(latents), dtype=torch.float32)[:, None, None, None].expand(-1, 3, 4, 4).clone()
        sessions = tuple(s for s, n in enumerate(sizes) for _ in range(n))
        bounds = np.cumsum([0, *sizes])
        datasets = tuple(items_dataset(latents[a:b], images[a:b], s)
                         for s, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])))
        return cls(latents, images, sessions, datasets)

    def __len__(self) -> int:
        return len(self.sessions)

    def items(self, session: int) -> tuple[int, ...]:
        return tuple(j for j, s in enumerate(self.sessions) if s == session)

    def identify(self, data, where: str) -> tuple[int, ...]:
        """The stream items a buffer dataset holds, in order; ``_Failed`` for an item that is not one, whole."""
        sessions = getattr(data, "session", None)
        out = []
        for i in range(len(data)):
            item = data[i]
            j = int(round(float(torch.as_tensor(item[1]).reshape(-1)[0]))) if len(item) == 3 else -1
            if not (0 <= j < len(self) and torch.equal(torch.as_tensor(item[0]), self.latents[j])
                    and torch.equal(torch.as_tensor(item[1]), self.images[j]) and int(item[2]) == 0
                    and (sessions is None or int(sessions[i]) == self.sessions[j])):
                raise _Failed(f"{where}: buffer item {i} is not an item of the pool: its latent, image, task label "
                              "or session match no pool item (keep pool items whole)")
            out.append(j)
        return tuple(out)


class _Driver:
    """Makes a replay strategy's plugins and drives them through a stream as a run does."""

    def __init__(self, entry: registry.StrategyEntry, params: dict, seed: int):
        self.entry, self.params, self.seed = entry, params, seed

    def plugins(self, k: int, global_seed: int | None = None) -> list:
        """A run's start: the global generators seeded (as the runner seeds them, by default),
        then the strategy's plugins for K = ``k`` and the run seed."""
        _seed_globals(self.seed if global_seed is None else global_seed)
        return self.entry.plugins({**self.params, "buffer_size": k}, seed=self.seed)

    def whole(self, stream: _Stream, k: int, global_seed: int | None = None) -> list[tuple[int, ...]]:
        """The items kept after each session of a fresh run through ``stream``."""
        return self.drive(self.plugins(k, global_seed), stream, k, range(len(stream.datasets)))

    def drive(self, plugins: list, stream: _Stream, k: int, sessions, held: tuple[int, ...] = ()) -> list:
        """Update ``plugins`` after each of ``sessions``, from a buffer holding ``held``; the items
        kept after each, checked for capacity and pool membership."""
        policy = _policy(plugins)
        agent = SimpleNamespace(experience=None)
        kept = []
        for t in sessions:
            pool = tuple(held) + stream.items(t)
            where = _where(t, pool, stream, k)
            agent.experience = SimpleNamespace(dataset=stream.datasets[t], current_experience=t)
            try:
                next(p for p in plugins if hasattr(p, "storage_policy")).after_training_exp(agent)
            except Exception as error:
                raise _Failed(f"{where}: updating the buffer raised {type(error).__name__}: {error}") from error
            held = stream.identify(policy.buffer, where)
            if len(held) > k:
                raise _Failed(f"{where}: the buffer holds {len(held)} items, more than K = {k}")
            repeated = sorted({j for j in held if held.count(j) > 1})
            if repeated:
                raise _Failed(f"{where}: the buffer holds pool item(s) {repeated} more than once")
            outside = [j for j in held if j not in pool]
            if outside:
                raise _Failed(f"{where}: the buffer holds item(s) {outside}, which are not in the pool {list(pool)}")
            kept.append(held)
        return kept


def _policy(plugins: list):
    return next(p for p in plugins if hasattr(p, "storage_policy")).storage_policy


def _where(t: int, pool: tuple[int, ...], stream: _Stream, k: int) -> str:
    if t == 0:
        return f"at the first session (pool: {len(pool)} items, all of session 0; K = {k})"
    sessions = sorted({stream.sessions[j] for j in pool})
    return f"at session {t} (pool: {len(pool)} items of sessions {', '.join(map(str, sessions))}; K = {k})"


def _same(expected: list, got: list, who: str, hint: str = "") -> None:
    for t, (a, b) in enumerate(zip(expected, got)):
        if a != b:
            raise _Failed(f"{who} kept other items after session {t}: {list(b)} instead of {list(a)}{hint}")


def _pickled(obj, what: str) -> bytes:
    try:
        blob = pickle.dumps(obj)
        pickle.loads(blob)
    except Exception as error:
        raise _Failed(f"pickling {what} failed: {type(error).__name__}: {error} (checkpoints pickle a run's "
                      "plugins: keep only picklable state, and define classes at the top level of a module)") from error
    return blob


def _seed_globals(seed: int) -> None:
    """Seed the global generators as the runner does at the start of a run."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _global_state() -> tuple:
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _set_global_state(state: tuple) -> None:
    torch.set_rng_state(state[0])
    np.random.set_state(state[1])
    random.setstate(state[2])
