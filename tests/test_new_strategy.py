"""`facebench new-strategy`: the module and test it writes pass the kit as written (the test,
run by pytest, is one passing test per check, and a failing one shows the kit's report); a plugin
is a complete package whose entry point imports; it refuses to overwrite, to take a used or
malformed name, and to write a built-in outside a checkout."""

import importlib
import sys
import tomllib

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
    for name in [m for m in sys.modules if m.endswith("my_buffer")]:  # test_my_buffer, the plugin's package too
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


def test_a_new_plugin_is_a_complete_package_whose_entry_point_imports(fresh, tmp_path, monkeypatch, capsys):
    root = tmp_path / "work" / "herding"  # missing: created
    monkeypatch.chdir(tmp_path)
    assert main(["new-strategy", "my-buffer", "--dir", str(root)]) == 0
    out = capsys.readouterr().out
    package = root / "facebench_my_buffer"
    assert {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()} == {
        "pyproject.toml", "facebench_my_buffer/__init__.py", "facebench_my_buffer/my_buffer.py",
        "tests/test_my_buffer.py"}
    assert "no folder" not in out and "or give --dir" not in out
    assert 'my-buffer = "facebench_my_buffer.my_buffer"' in out
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "facebench-my-buffer"
    value = project["project"]["entry-points"][registry.GROUP]["my-buffer"]
    assert value == "facebench_my_buffer.my_buffer" and project["tool"]["setuptools"]["packages"] == [package.name]
    monkeypatch.syspath_prepend(str(root))  # as an installed package, or pytest run from the project root
    module = importlib.import_module(value)  # what the installed entry point will load
    assert registry.get_strategy("my-buffer").target is module.MyBuffer
    _passes_the_kit(root / "tests" / "test_my_buffer.py", capsys)


def test_the_generated_test_fails_with_the_kits_report(fresh, tmp_path, monkeypatch, capsys):
    root = tmp_path / "herding"
    assert main(["new-strategy", "my-buffer", "--dir", str(root)]) == 0
    code = root / "facebench_my_buffer" / "my_buffer.py"
    code.write_text(code.read_text().replace("return rng.choice(len(pool)", "return np.random.choice(len(pool)"))
    monkeypatch.syspath_prepend(str(root))
    capsys.readouterr()
    assert pytest.main([str(root / "tests"), "-p", "no:cacheprovider", "--import-mode=importlib",
                        "-k", "rng_only"]) == pytest.ExitCode.TESTS_FAILED
    out = capsys.readouterr().out
    assert "strategy 'my-buffer' fails the check 'randomness from rng only'" in out
    assert "select must draw randomness only from the rng it is given" in out
    assert "Traceback" not in out and "During handling" not in out


def test_a_plugin_project_keeps_its_own_pyproject(fresh, tmp_path, capsys):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    assert main(["new-strategy", "my-buffer", "--dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert (root / "pyproject.toml").read_text() == "[project]\nname = 'mine'\n"
    assert "kept the existing" in out and 'my-buffer = "facebench_my_buffer.my_buffer"' in out
    assert (root / "facebench_my_buffer" / "my_buffer.py").exists()
    assert main(["new-strategy", "my-buffer", "--dir", str(root)]) == 2  # the module exists now: refused
    assert "already exist" in capsys.readouterr().err


def test_without_dir_outside_a_checkout_it_says_to_give_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new-strategy", "my-buffer"]) == 2
    assert "no folder strategies: run from the root of a facebench checkout" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv, message", [
    (["er-hull"], "strategy name 'er-hull' is already taken (built-in)"),
    (["My Buffer"], "invalid strategy name 'My Buffer'"),
    (["2fast"], "invalid strategy name '2fast'"),
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
