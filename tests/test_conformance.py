"""facebench.testing.check_strategy: every built-in strategy passes the conformance kit, and
each check fails, with a message that says what the strategy did, on a strategy built to break it."""

import random
import re
import time

import numpy as np
import pytest
import torch
from avalanche.core import SupervisedPlugin
from avalanche.training.storage_policy import ExemplarsBuffer

from facebench import testing
from facebench.data.items import items_dataset
from facebench.registry import get_strategy, list_strategies
from facebench.replay import ReplayBuffer
from facebench.testing import ConformanceError, check_strategy

BUILT_IN = [entry.name for entry in list_strategies() if entry.origin == "built-in"]
REPLAY_CHECKS = ("described", "stream at K = 3", "K = 1", "K larger than the pool", "same seed, same selections",
                 "randomness from rng only", "picklable", "resume from pickle", "resume from state_dict",
                 "selection time")


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_strategy_passes(name):
    report = check_strategy(name)
    assert report.strategy == name
    if not get_strategy(name).is_replay:  # a plugin factory
        assert report.checks == ("described", "plugins", "picklable") and report.select_seconds is None
    elif name == "reservoir":  # a stock Avalanche buffer: global generators (seeded by the run), no state_dict
        assert report.checks == tuple(c for c in REPLAY_CHECKS if c not in ("randomness from rng only",
                                                                             "resume from state_dict"))
    else:
        assert report.checks == REPLAY_CHECKS
        print(f"{name}: one update at pool 30, D 128: {report.select_seconds:.3f} s")


def test_every_built_in_is_checked():  # BUILT_IN comes from discovery, so new built-ins are checked too
    assert set(BUILT_IN) >= {"naive", "joint", "cumulative", "er-rand", "er-hull", "kmeans", "reservoir"}


def test_the_kit_leaves_the_global_random_state_alone():
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    expected = torch.rand(1), np.random.rand(), random.random()
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    check_strategy("er-rand")
    assert (torch.rand(1), np.random.rand(), random.random()) == expected


class Parametrised(ReplayBuffer):
    """Keeps the last k pool items; needs its own parameter."""

    def __init__(self, max_size, alpha: float, seed=0):
        super().__init__(max_size, seed)
        self.alpha = alpha

    def select(self, pool, k, rng):
        return list(range(len(pool)))[-k:]


def test_an_unregistered_class_with_parameters():
    report = check_strategy(Parametrised, params={"alpha": 0.5})
    assert report.strategy == "Parametrised" and "resume from state_dict" in report.checks
    with pytest.raises(ConformanceError, match="fails the check 'registration': .*needs alpha"):
        check_strategy(Parametrised)


# Deliberately broken strategies, one for each check.

class _Stock(ExemplarsBuffer):
    def update(self, strategy, **kwargs):  # as ReplayBuffer does: not Avalanche's deprecated path
        self.post_adapt(strategy, strategy.experience)

    def resize(self, strategy, new_size):
        self.max_size = new_size


class KeepsEverything(_Stock):
    """Ignores K."""

    def post_adapt(self, agent, exp):
        self.buffer = exp.dataset if len(self.buffer) == 0 else self.buffer.concat(exp.dataset)


class Doubles(_Stock):
    """Keeps the session's first item twice."""

    def post_adapt(self, agent, exp):
        self.buffer = exp.dataset.subset([0, 0])


class Invents(_Stock):
    """Keeps the mean of the session's items, a point that is no pool item."""

    def post_adapt(self, agent, exp):
        w, x = (torch.stack([exp.dataset[i][j] for i in range(len(exp.dataset))]).mean(0, keepdim=True) for j in (0, 1))
        self.buffer = items_dataset(w, x, int(exp.dataset.session[0]))


class Resurrects(_Stock):
    """Keeps the newest session's items, plus the very first item it ever saw, even once dropped."""

    def post_adapt(self, agent, exp):
        if len(self.buffer) == 0:
            self.first = exp.dataset.subset([0])
        newest = exp.dataset.subset(range(min(self.max_size - 1, len(exp.dataset))))
        self.buffer = newest if agent.experience.current_experience < 2 else newest.concat(self.first)


class OneSessionCrash(ReplayBuffer):
    """Needs an earlier session in the pool."""

    def select(self, pool, k, rng):
        earlier = np.flatnonzero(pool.sessions < pool.sessions.max())
        return [int(rng.choice(earlier))]


class KOneCrash(ReplayBuffer):
    """Evenly spaced items, dividing by k - 1."""

    def select(self, pool, k, rng):
        step = max(1, (len(pool) - 1) // (k - 1))
        return list(range(0, len(pool), step))[:k]


class Unseeded(ReplayBuffer):
    """Random, from a generator of its own."""

    def select(self, pool, k, rng):
        return np.random.default_rng().permutation(len(pool))[:k].tolist()


class GlobalRandom(ReplayBuffer):
    """Random, from numpy's global generator."""

    def select(self, pool, k, rng):
        return np.random.permutation(len(pool))[:k].tolist()


class Unpicklable(ReplayBuffer):
    """Holds a lambda."""

    def __init__(self, max_size, seed=0):
        super().__init__(max_size, seed)
        self.score = lambda pool: pool.latents.sum(1)

    def select(self, pool, k, rng):
        return np.argsort(self.score(pool))[:k].tolist()


class CountsCalls(ReplayBuffer):
    """Rotates by the number of calls, a state its state_dict forgets."""

    calls = 0

    def select(self, pool, k, rng):
        self.calls += 1
        return sorted({(self.calls + i) % len(pool) for i in range(min(k, len(pool)))})


class Slow(ReplayBuffer):
    """Sleeps at large pools."""

    def select(self, pool, k, rng):
        if len(pool) >= 30:
            time.sleep(0.3)
        return list(range(min(k, len(pool))))


class Undocumented(ReplayBuffer):
    def select(self, pool, k, rng):
        return [0]


class NotABuffer:
    """Selects nothing."""


def returns_one_plugin():
    """A factory that forgets the list."""
    return SupervisedPlugin()


def returns_junk():
    """A factory whose list holds no plugin."""
    return [42]


@pytest.mark.parametrize("strategy, check, what", [
    (KeepsEverything, "stream at K = 3", r"at the first session \(pool: 5 items, all of session 0; K = 3\): "
                                         r"the buffer holds 5 items, more than K = 3"),
    (Doubles, "stream at K = 3", r"at the first session .*holds pool item\(s\) \[0\] more than once"),
    (Invents, "stream at K = 3", r"at the first session .*buffer item 0 is not an item of the pool"),
    (Resurrects, "stream at K = 3", r"at session 2 \(pool: 3 items of sessions 1, 2; K = 3\): the buffer holds "
                                    r"item\(s\) \[0\], which are not in the pool \[5, 6, 9\]"),
    (OneSessionCrash, "stream at K = 3", r"at the first session .*raised ValueError"),
    (KOneCrash, "K = 1", r"at the first session .*K = 1\): updating the buffer raised ZeroDivisionError"),
    (Unseeded, "same seed, same selections", r"a second run with seed 0 kept other items after session \d"),
    (GlobalRandom, "randomness from rng only", r"other global random states .*kept other items after session 0: "
                                               r".*select must draw randomness only from the rng it is given"),
    (Unpicklable, "picklable", r"pickling its plugins after the first session failed: .*lambda"),
    (CountsCalls, "resume from state_dict", r"resumed after session 1 by load_state_dict into a fresh buffer "
                                            r"kept other items after session 2"),
    (Undocumented, "described", r"it has no description"),
    (NotABuffer, "registration", r"not an Avalanche ExemplarsBuffer"),
    ("no-such-strategy", "registration", r"unknown strategy 'no-such-strategy'"),
    (returns_one_plugin, "plugins", r"must return a list of Avalanche plugins, got SupervisedPlugin"),
    (returns_junk, "plugins", r"must return a list of Avalanche plugins .*item 0 is a int"),
])
def test_a_broken_strategy_fails_the_right_check(strategy, check, what):
    with pytest.raises(ConformanceError) as error:
        check_strategy(strategy)
    assert error.value.check == check
    assert error.value.strategy == getattr(strategy, "__name__", strategy)
    assert str(error.value).startswith(f"strategy '{error.value.strategy}' fails the check '{check}': ")
    assert re.search(what, error.value.detail), error.value.detail


def test_an_absurdly_slow_update_fails(monkeypatch):
    monkeypatch.setattr(testing, "TIME_LIMIT_S", 0.1)
    with pytest.raises(ConformanceError, match=r"'selection time': one update at a pool of 30 items "
                                               r"\(D = 128, K = 5\) took 0\.\d s, more than 0\.1 s"):
        check_strategy(Slow)
