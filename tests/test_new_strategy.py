"""`facebench new-strategy`: the module and test it writes pass the kit as written (the test,
run by pytest, is one passing test per check); it refuses to overwrite, to take a used or
malformed name, and to write into a missing folder."""

import importlib
import sys

import pytest

import facebench.strategies
from conftest import isolate_registry
from facebench import registry
from facebench.cli import main
from facebench.testing import REPLAY_CHECKS


@pytest.fixture
def fresh(monkeypatch):
    """A registry whose changes are undone after the test, its discovery to be run again."""
    yield isolate_registry(monkeypatch, "pending")
    for name in [m for m in sys.modules if m.endswith("my_buffer") or m == "myplugin"]:  # test_my_buffer too
        sys.modules.pop(name)


def _passes_the_kit(path, capsys):
    """Run the written test file with pytest in this process (where the new strategy is registered):
    every check of a ReplayBuffer is a test of its own, and passes."""
    capsys.readouterr()
    code = pytest.main([str(path), "-v", "-p", "no:cacheprovider", "--import-mode=importlib"])
    out = capsys.readouterr().out
    assert code == pytest.ExitCode.OK, out
    assert f"{len(REPLAY_CHECKS)} passed" in out and "skipped" not in out, out
    for check in REPLAY_CHECKS:
        assert f"test_my_buffer_conforms[my-buffer-{check.__name__}] PASSED" in out, out


def test_a_new_built_in_is_discovered_and_passes_the_kit(fresh, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "strategies"
    folder.mkdir()
    monkeypatch.setattr(facebench.strategies, "__path__", [*facebench.strategies.__path__, str(folder)])
    monkeypatch.chdir(tmp_path)
    assert main(["new-strategy", "my-buffer", "--dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "'my-buffer' is a built-in strategy" in out and "pytest tests/test_my_buffer.py" in out
    monkeypatch.setattr(registry, "_discovery", "pending")  # as in the next process
    entry = registry.get_strategy("my-buffer")  # found by discovery, as every module of strategies/
    assert (entry.origin, entry.target.__name__, entry.is_replay) == ("built-in", "MyBuffer", True)
    _passes_the_kit(tmp_path / "tests" / "test_my_buffer.py", capsys)


def test_a_new_plugin_module_and_its_entry_point(fresh, tmp_path, monkeypatch, capsys):
    package = tmp_path / "myplugin"
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["new-strategy", "my-buffer", "--dir", "myplugin"]) == 0
    out = capsys.readouterr().out
    assert "wrote myplugin/my_buffer.py and tests/test_my_buffer.py" in out
    assert '[project.entry-points."facebench.strategies"]\n  my-buffer = "myplugin.my_buffer"' in out
    importlib.import_module("myplugin.my_buffer")  # what the installed entry point will do
    _passes_the_kit(tmp_path / "tests" / "test_my_buffer.py", capsys)


@pytest.mark.parametrize("argv, message", [
    (["er-hull"], "strategy name 'er-hull' is already taken (built-in)"),
    (["My Buffer"], "invalid strategy name 'My Buffer'"),
    (["2fast"], "invalid strategy name '2fast'"),
    (["my-buffer", "--dir", "nowhere"], "no folder nowhere: run from the root of a facebench checkout"),
])
def test_refused_names_and_folders(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "strategies").mkdir()
    assert main(["new-strategy", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.py"))


def test_existing_files_are_not_overwritten(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "strategies").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_my_buffer.py").write_text("mine")
    assert main(["new-strategy", "my-buffer"]) == 2
    assert "tests/test_my_buffer.py already exists; not overwritten" in capsys.readouterr().err
    assert (tmp_path / "tests" / "test_my_buffer.py").read_text() == "mine"
    assert not (tmp_path / "strategies" / "my_buffer.py").exists()
