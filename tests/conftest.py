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
