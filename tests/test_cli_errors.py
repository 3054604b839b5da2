"""The facebench command's user errors: each ends the command with one line and a non-zero exit
status, never a traceback. Arguments (seeds, devices) are refused when parsed, before any work;
a replay strategy's wrong selection and a malformed zoo asset or card are refused as one line
"error: ..." with exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import isolate_registry
from facebench.cli import build_parser, main
from facebench.models.zoo import sha256, zoo_dir
from facebench.registry import register_strategy
from facebench.replay import ReplayBuffer

RUN = ["run", "--strategy", "er-rand", "--buffer-size", "2", "--scenario", "faceworld-quick"]


def usage_error(argv, capsys) -> str:
    """The last stderr line of ``main(argv)``, which must stop as argparse stops on a bad argument."""
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and not captured.out
    return captured.err.splitlines()[-1]


def one_line_error(argv, capsys) -> str:
    """The stderr of ``main(argv)``, which must return 2 after printing one line "error: ..."."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    return err.rstrip("\n")


@pytest.fixture
def no_run(monkeypatch):
    """Make any run or sweep that starts fail the test: the errors come before any work."""
    def started(*args, **kwargs):
        raise AssertionError("a run started")

    monkeypatch.setattr("facebench.run.runner.run", started)
    monkeypatch.setattr("facebench.run.sweep.sweep", started)


@pytest.mark.parametrize("value", ["-1", str(2**70), str(2**32)])
def test_run_refuses_a_seed_numpy_cannot_take_when_parsing(value, capsys, no_run):
    assert usage_error([*RUN, "--seed", value], capsys) == (
        f"facebench run: error: argument --seed: a seed must be an integer from 0 to 4294967295, got {value}")


def test_the_largest_seed_numpy_takes_is_accepted():
    assert build_parser().parse_args([*RUN, "--seed", str(2**32 - 1)]).seed == 2**32 - 1


def test_pretrain_refuses_a_negative_seed_when_parsing(capsys):
    assert usage_error(["pretrain", "identity", "--seed", "-1"], capsys).endswith(
        "argument --seed: a seed must be an integer from 0 to 4294967295, got -1")


def test_sweep_refuses_a_negative_seed_before_any_run(capsys, no_run):
    assert one_line_error(["sweep", "--scenario", "faceworld-quick", "--strategies", "er-rand", "--seeds", "0,-1"],
                          capsys) == "error: --seeds: a seed must be an integer from 0 to 4294967295, got -1"


@pytest.mark.slow  # starts processes or renders at scale: seconds each
def test_the_command_exits_2_without_a_traceback_on_a_bad_seed():
    command = Path(sys.executable).with_name("facebench")
    result = subprocess.run([command, *RUN, "--seed", "-1"], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].endswith("argument --seed: a seed must be an integer from 0 to "
                                                   "4294967295, got -1")


@pytest.fixture
def accelerators(monkeypatch):
    """A function that makes torch see ``count`` devices of type ``kind`` (None: none at all)."""
    def have(kind: str | None, count: int = 0) -> None:
        found = torch.device(kind) if kind else None
        monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda check_available=False: found)
        monkeypatch.setattr(torch.accelerator, "device_count", lambda: count)

    return have


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_run_refuses_an_unavailable_device_when_parsing_and_says_what_is_available(device, accelerators, capsys,
                                                                                 no_run):
    accelerators(None)
    assert usage_error([*RUN, "--device", device], capsys) == (
        f"facebench run: error: argument --device: no {device} device on this machine (available here: cpu)")


@pytest.mark.parametrize("device", ["tpu9", "", "cuda:x", "CPU"])
def test_run_refuses_what_is_no_torch_device_when_parsing(device, accelerators, capsys, no_run):
    accelerators(None)
    assert usage_error([*RUN, "--device", device], capsys) == (
        f"facebench run: error: argument --device: '{device}' is not a torch device (available here: cpu)")


def test_devices_are_checked_against_the_accelerators_torch_has(accelerators, capsys):
    accelerators("cuda", 2)
    for device in ("cpu", "cuda", "cuda:1"):
        assert build_parser().parse_args([*RUN, "--device", device]).device == device
    for device in ("cuda:2", "mps"):
        assert usage_error([*RUN, "--device", device], capsys).endswith(
            f"no {device} device on this machine (available here: cpu, cuda:0, cuda:1)")


class Repeats(ReplayBuffer):
    """Keeps the first pool item twice."""

    def select(self, pool, k, rng):
        return [0, 0]


@pytest.mark.usefixtures("anchor_cache")
def test_a_wrong_selection_ends_the_run_with_one_line_naming_the_strategy_and_the_session(
        monkeypatch, write_card, tmp_path, capsys):
    isolate_registry(monkeypatch, "done")
    register_strategy("test-repeats")(Repeats)
    card = write_card({"resolution": 64,
                       "source": {"kind": "faceworld", "world_seed": 0, "persons": 1, "sessions": 1,
                                  "train_per_session": 2, "test_per_session": 2},
                       "protocol": {"steps_per_session": 1, "anchor_steps": 1, "eval_steps": 1,
                                    "synthesis_samples": 2}}, "tiny")  # a run of seconds: 2 items, 1 step
    err = one_line_error(["run", "--strategy", "test-repeats", "--buffer-size", "2", "--scenario", str(card),
                          "--out", str(tmp_path / "runs")], capsys)
    assert err == (f"error: replay strategy {__name__}.Repeats: its select, after session 0 (pool of 2 items, "
                   f"K = 2), returned repeated indices: [0, 0]")


@pytest.fixture
def zoo_copy(tmp_path, monkeypatch):
    """A copy of the shipped zoo's cards and assets, made $FACEBENCH_ZOO."""
    folder = tmp_path / "zoo"
    folder.mkdir()
    for path in zoo_dir().iterdir():
        if path.suffix in (".json", ".safetensors"):
            (folder / path.name).write_bytes(path.read_bytes())
    monkeypatch.setenv("FACEBENCH_ZOO", str(folder))
    return folder


def test_a_card_that_is_not_json_is_one_line_naming_it_and_its_rebuild_command(zoo_copy, capsys):
    (zoo_copy / "identity.json").write_text('{"name": "identity",')
    err = one_line_error(["models"], capsys)
    assert err.startswith(f"error: model card {zoo_copy / 'identity.json'} is not valid JSON")
    assert err.endswith("; rebuild it with: facebench pretrain identity")


@pytest.mark.usefixtures("anchor_cache")  # should the run get past the models, it must not fill the user's cache
def test_a_malformed_safetensors_file_is_one_line_naming_it_and_its_rebuild_command(zoo_copy, monkeypatch,
                                                                                  tmp_path, capsys):
    monkeypatch.setattr("facebench.run.runner._GENERIC", {})  # load the models again, from the copy
    (zoo_copy / "perceptual.safetensors").write_bytes(b"\x00" * 64)
    card = json.loads((zoo_copy / "perceptual.json").read_text())
    card["sha256"] = sha256(zoo_copy / "perceptual.safetensors")  # the card matches the broken file
    (zoo_copy / "perceptual.json").write_text(json.dumps(card))
    err = one_line_error([*RUN, "--out", str(tmp_path / "runs")], capsys)
    assert err.startswith(f"error: asset perceptual ({zoo_copy / 'perceptual.safetensors'}) is not a readable "
                          "safetensors file")
    assert err.endswith("; rebuild it with: facebench pretrain perceptual")
