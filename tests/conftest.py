"""Fixtures shared by the test modules."""

import pytest
import yaml


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
