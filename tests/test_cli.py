"""The facebench command: scenario listing, data preview, and one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from facebench.cli import main


def test_scenarios_lists_the_stock_cards_with_their_sizes(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    rows = {cells[0]: cells for cells in map(str.split, out.splitlines()) if cells}
    assert rows["faceworld"] == ["faceworld", "5", "10", "20+20", "2000", "64", "world", "0"]
    assert rows["faceworld-life"][-3:] == ["world", "15,", "life"]
    assert rows["faceworld-quick"][1:3] == ["2", "3"]
    assert "faceworld: the reference protocol's size" in out


def test_preview_writes_a_contact_sheet_with_one_row_per_session(tmp_path, capsys):
    output = tmp_path / "sheet.png"
    argv = ["data", "preview", "--scenario", "faceworld-quick", "--person", "1", "-o", str(output)]
    assert main(argv) == 0
    assert f"wrote {output}" in capsys.readouterr().out
    with Image.open(output) as sheet:
        assert sheet.format == "PNG"
        width, height = sheet.size
    # three sessions of 64 px faces, shown at 128 px: three rows under the title
    assert 3 * 128 < height < 4 * 128 and 6 * 128 < width < 8 * 128


def test_preview_of_a_folder_scenario(tmp_path, write_card):
    for session in ("monday", "tuesday"):
        for split in ("train", "test"):
            (tmp_path / "photos/ann" / session / split).mkdir(parents=True)
            Image.new("RGB", (40, 30), "gray").save(tmp_path / "photos/ann" / session / split / "0.png")
    card = write_card({"resolution": 32, "source": {"kind": "folder", "root": "photos"}})
    output = tmp_path / "ann.png"
    assert main(["data", "preview", "--scenario", str(card), "--person", "ann", "-o", str(output)]) == 0
    with Image.open(output) as sheet:
        assert sheet.size[1] > 2 * 128


@pytest.fixture
def bad_card(write_card):
    return write_card({"source": {"kind": "faceworld", "world_seed": "zero", "persons": 1, "sessions": 1,
                                  "train_per_session": 1, "test_per_session": 1}}, "bad")


ERRORS = [
    (["scenarios", "nope"], "unknown scenario 'nope'"),
    (["data", "preview", "--person", "9"], "unknown person '9'"),
    (["scenarios", "missing.yaml"], "missing.yaml: no such card file"),
    (["data", "preview", "--scenario", "faceworld-quick", "-o", "/nonexistent/dir/x.png"], "x.png"),
]


@pytest.mark.parametrize("argv, words", ERRORS, ids=[" ".join(argv) for argv, _ in ERRORS])
def test_errors_are_one_red_line_and_exit_status_2(argv, words, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
    assert words in captured.err


def test_a_bad_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["data", "preview", "--frames", "0"])
    assert exit.value.code == 2
    assert "--frames: must be at least 1, got 0" in capsys.readouterr().err


def test_a_bad_card_names_the_key_and_the_file(bad_card, capsys):
    assert main(["scenarios", str(bad_card)]) == 2
    err = capsys.readouterr().err
    assert f"error: {bad_card}: source.world_seed: expected an integer >= 0, got 'zero'" in err


@pytest.mark.slow  # starts processes or renders at scale: seconds each
def test_the_installed_command_prints_no_traceback(tmp_path):
    command = Path(sys.executable).with_name("facebench")
    result = subprocess.run(
        [command, "data", "preview", "--scenario", "nope"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown scenario 'nope'") and "Traceback" not in result.stderr


def test_resume_without_a_checkpoint_says_the_run_starts_fresh(tmp_path, capsys, monkeypatch):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt  # the run itself is not what this test is about

    monkeypatch.setattr("facebench.run.runner.run", stop)
    assert main(["run", "--strategy", "ewc", "--param", "ewc_lambda=1e3", "--scenario", "faceworld-quick",
                 "--out", str(tmp_path), "--resume"]) == 130
    out = capsys.readouterr().out
    assert "no checkpoint at" in out and "ewc-ewclambda1000.0" in out.replace("\n", "")
    assert "starts from the beginning" in out.replace("\n", " ")


def test_strategies_reads_an_unchanged_listing_from_the_cache(tmp_path, monkeypatch, capsys):
    from facebench import registry

    monkeypatch.setenv("FACEBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRIES", {})  # as in a fresh process: nothing registered yet
    monkeypatch.setattr(registry, "_discovery", "pending")
    monkeypatch.setattr(registry, "_fingerprint", lambda: "same code")
    cached = {"name": "cached-only", "kind": "sequential", "is_replay": True, "parameters": [["buffer_size", None]],
              "description": "Read from the cache.", "origin": "built-in"}
    (tmp_path / registry.SUMMARIES_FILE).write_text(json.dumps(
        {"fingerprint": "same code", "warnings": ["strategy plugin 'x' (x) not loaded: why"], "strategies": [cached]}))
    with pytest.warns(registry.PluginWarning, match="strategy plugin 'x'"):
        assert main(["strategies"]) == 0
    assert "cached-only" in capsys.readouterr().out and registry._discovery == "pending"


def test_the_cache_fingerprint_follows_the_plugins_code(tmp_path, monkeypatch):
    from importlib.metadata import EntryPoint

    from facebench import registry

    (tmp_path / "fbplugin_cached.py").write_text("# v1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "entry_points",
                        lambda group: [EntryPoint("cached", "fbplugin_cached", registry.GROUP)])
    before = registry._fingerprint()
    assert registry._fingerprint() == before
    (tmp_path / "fbplugin_cached.py").write_text("# version 2\n")
    assert registry._fingerprint() != before


@pytest.mark.slow  # starts processes or renders at scale: seconds each
def test_strategies_from_the_cache_lists_what_discovery_lists(tmp_path):
    env = {**os.environ, "FACEBENCH_CACHE": str(tmp_path), "COLUMNS": "250"}
    runs = [subprocess.run([sys.executable, "-m", "facebench.cli", "strategies"], capture_output=True, text=True,
                           env=env, check=True) for _ in range(2)]
    assert (tmp_path / "strategies.json").exists() and "er-hull" in runs[0].stdout
    assert runs[0].stdout == runs[1].stdout


def test_listing_the_scenarios_imports_neither_torch_nor_avalanche():
    """`facebench scenarios` reads cards only: torch is imported where images are read."""
    import subprocess
    import sys

    code = ("import sys; from facebench.cli import main; main(['scenarios']); "
            "print('imported:', sorted(m for m in ('torch', 'avalanche') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "faceworld-quick" in out and out.strip().endswith("imported: []")
