"""Fixtures shared by the test modules.

Under pytest-xdist (``-n``), each worker process runs torch, and the processes it starts, on one
thread: two workers of two threads each on two cores spin-wait in OpenMP and run many times
slower (docs/speed.md). Set here, before any test module imports torch.
"""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402
import yaml

from facebench import registry


@pytest.fixture
def write_card(tmp_path):
    """A function that writes a card (a dict) as ``<name>.yaml`` in a temporary folder."""

    def write(data: dict, name: str = "card"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture
def anchor_cache(tmp_path_factory, monkeypatch):
    """One anchor cache ($FACEBENCH_CACHE) for every run of the test session, apart from the
    user's: each person's anchors are computed once per session, by the first run that needs them."""
    path = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("FACEBENCH_CACHE", str(path))
    return path


def isolate_registry(monkeypatch, discovery: str):
    """Make the strategy registry's changes during a test undone after it: its entries copied
    (the built-ins discovered first), its discovery state set to ``discovery`` ("done": keep
    the built-ins; "pending": discover again on the next lookup). Returns the registry module."""
    registry.list_strategies()
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))
    monkeypatch.setattr(registry, "_discovery", discovery)
    return registry
