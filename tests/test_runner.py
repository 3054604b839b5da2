"""`facebench run`: every built-in strategy end to end on the quick card, the result file,
resume after a real kill, and every bad input of issue 4.

The end-to-end runs (they fine-tune a generator) are marked slow; the bad inputs are refused
before any training and stay in the quick suite."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from facebench.board.schema import SCHEMA
from facebench.cli import _params_text, main
from facebench.data.cards import load_card
from facebench.protocol import SCORES_OF_VERSION, VERSION, Protocol
from facebench.registry import list_strategies
from facebench.run.runner import RunError, RunSpec, run

QUICK = "faceworld-quick"
BUILT_IN = ["naive", "joint", "joint-so-far", "cumulative", "er-rand", "er-hull", "kmeans", "reservoir"]
KIND = {"joint": "joint", "joint-so-far": "joint-so-far", "cumulative": "cumulative"}  # the others are sequential
DRAWS = {"er-rand", "kmeans", "reservoir"}  # buffers whose choices the seed varies (ER-Hull enumerates here)

pytestmark = pytest.mark.usefixtures("anchor_cache")


def _params(name):
    return {"buffer_size": 2} if name in ("er-rand", "er-hull", "kmeans", "reservoir") else {}


@pytest.mark.slow
@pytest.mark.parametrize("name", BUILT_IN)
def test_every_builtin_strategy_runs_on_the_quick_card(name, tmp_path):
    path = run(RunSpec(name, _params(name), QUICK, "0", 0), tmp_path)
    result = json.loads(path.read_text())
    assert result["schema"] == SCHEMA
    assert result["strategy"]["name"] == name and result["strategy"]["params"] == _params(name)
    assert result["strategy"]["defaults"] == {}  # none of these has a parameter with a default
    assert result["strategy"]["kind"] == KIND.get(name, "sequential")
    assert result["sessions"] == 3
    assert tuple(result["scores"]) == SCORES_OF_VERSION[VERSION]
    for score in result["scores"].values():
        matrix = score["matrix"]
        if name == "joint":
            assert len(matrix) == 1 and all(v is not None for v in matrix[0])
            assert score["forgetting"] is None
        else:
            assert [sum(v is not None for v in row) for row in matrix] == [1, 2, 3]
            assert math.isfinite(score["forgetting"])
        assert math.isfinite(score["aip"])
    timing, parts = result["timing"], ("anchors_s", "train_s", "eval_s", "select_s")
    assert all(timing[key] >= 0 for key in parts) and timing["train_s"] > 0 and timing["eval_s"] > 0
    assert sum(timing[key] for key in parts) <= timing["total_s"] + 5 * 0.0005  # each rounded to the ms
    assert result["provenance"]["torch"] == torch.__version__
    assert set(result["provenance"]["models"]) == {"generator", "encoder", "perceptual", "identity"}
    assert len(result["provenance"]["images_sha256"]) == 64
    assert result["scenario"]["card_sha256"] and result["protocol"]["settings"]["steps_per_session"] == 30
    assert result["protocol"] == Protocol.from_card(load_card(QUICK)).record() and result["protocol"]["version"] == VERSION
    replay = "buffer_size" in _params(name)
    assert result["seed_varies"] == ["batch_order", "p0_samples", *(["buffer"] if name in DRAWS else [])]
    history = result["buffer_history_sha256"]
    assert (history is not None and len(bytes.fromhex(history)) == 32) if replay else history is None
    _assert_replay_record(result["replay_buffer"], replay)
    photo = 128 * 4 + 3 * 64 * 64 * 4  # a latent and a float32 image
    held = {"joint": 18, "joint-so-far": 18, "cumulative": 18, "naive": 0}.get(name, 2)  # all 3 x 6 items, or K = 2
    assert (result["memory"]["items"] or 0, result["memory"]["bytes"]) == (held, held * photo)


def _assert_replay_record(record, replay: bool):
    """A replay run's record (``facebench.run.history``): its K = 2 buffer after each of the 3
    experiences, each item an anchor of a session seen so far, and each session's hull distance."""
    if not replay:
        assert record is None
        return
    assert len(record["sessions"]) == len(record["items"]) == 3
    for t, (sessions, items) in enumerate(zip(record["sessions"], record["items"])):
        assert len(sessions) == len(items) == 2 and all(0 <= s <= t for s in sessions)
        assert all(i is not None and 0 <= i < 6 for i in items)  # every item one of its session's 6 anchors
        assert len(set(zip(sessions, items))) == 2  # two distinct items
    distances = record["hull_distance"]
    assert len(distances) == 3 and all(math.isfinite(d) and d >= 0 for d in distances)
    # a session of the final buffer has one of its 6 anchors on the hull, the others at a positive distance
    assert max(distances) > 0


def test_registry_holds_the_built_ins():
    assert set(BUILT_IN) <= {entry.name for entry in list_strategies()}


@pytest.mark.slow
def test_existing_result_needs_force(tmp_path):
    spec = RunSpec("naive", {}, QUICK, "1", 0)
    path = run(spec, tmp_path)
    with pytest.raises(RunError, match="exists; use --force"):
        run(spec, tmp_path)
    before = path.stat().st_mtime_ns
    time.sleep(0.01)
    assert run(spec, tmp_path, force=True) == path and path.stat().st_mtime_ns != before


def _cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "facebench.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env})


@pytest.mark.slow
def test_resume_after_a_real_kill_gives_the_uninterrupted_numbers(tmp_path):
    args = ["run", "--strategy", "er-hull", "--buffer-size", "2", "--scenario", QUICK, "--threads", "1"]
    whole = _cli(*args, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "facebench.cli", *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = out / QUICK / "er-hull-k2" / "person0-seed0.ckpt"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before its first checkpoint"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / QUICK / "er-hull-k2" / "person0-seed0.json").exists()
    resumed = _cli(*args, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((tmp_path / "whole" / QUICK / "er-hull-k2" / "person0-seed0.json").read_text())
    b = json.loads((out / QUICK / "er-hull-k2" / "person0-seed0.json").read_text())
    assert a["scores"] == b["scores"]
    assert a["buffer_history_sha256"] == b["buffer_history_sha256"] is not None  # the same buffers, in order
    assert a["seed_varies"] == b["seed_varies"]
    assert a["replay_buffer"] == b["replay_buffer"] is not None  # the record survives the checkpoint
    assert not ckpt.exists()


@pytest.mark.parametrize("argv, message", [
    (["--strategy", "er-hul", "--buffer-size", "3"], "unknown strategy 'er-hul'; did you mean 'er-hull'?"),
    (["--strategy", "er-hull"], "needs buffer_size"),
    (["--strategy", "er-hull", "--buffer-size", "0"], "buffer_size must be a positive integer"),
    (["--strategy", "naive", "--buffer-size", "3"], "takes no parameter buffer_size"),
    (["--strategy", "naive", "--scenario", "nowhere"], "unknown scenario 'nowhere'"),
    (["--strategy", "naive", "--scenario", QUICK, "--person", "7"], "unknown person '7'"),
])
def test_bad_input_is_one_clear_line_and_exit_2(argv, message, capsys, tmp_path):
    assert main(["run", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.rglob("*.json"))


def test_result_directory_that_is_not_writable(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "--strategy", "naive", "--scenario", QUICK, "--out", str(blocker / "sub")]) == 2
    assert "not writable" in capsys.readouterr().err


@pytest.mark.slow
def test_nan_loss_stops_with_session_and_step_and_keeps_the_checkpoint(tmp_path, capsys, monkeypatch):
    from facebench import registry
    from facebench.run.template import ReconstructionCriterion

    calls = {"n": 0}
    real = ReconstructionCriterion.forward

    def poisoned(self, output, target):
        calls["n"] += 1
        loss = real(self, output, target)
        return loss * float("nan") if calls["n"] > 35 else loss  # session 1, step 6 on the quick card

    monkeypatch.setattr(ReconstructionCriterion, "forward", poisoned)
    assert registry.get_strategy("naive")
    assert main(["run", "--strategy", "naive", "--scenario", QUICK, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "non-finite fine-tuning loss" in err and "session 1, step 6" in err
    folder = tmp_path / QUICK / "naive"
    assert (folder / "person0-seed0.ckpt").exists() and not (folder / "person0-seed0.json").exists()


def test_result_path_names_strategy_parameters_person_and_seed(tmp_path):
    spec = RunSpec("er-hull", {"buffer_size": 5}, QUICK, "1", 3)
    assert spec.result_path(tmp_path, QUICK) == tmp_path / QUICK / "er-hull-k5" / "person1-seed3.json"
    assert Path(RunSpec("naive").result_path(tmp_path, "faceworld")).name == "person0-seed0.json"


def test_the_result_path_and_the_header_name_only_the_parameters_that_differ_from_the_defaults(tmp_path):
    ewc = list_strategies("ewc")[0]
    folder = lambda params, defaults=ewc.defaults: RunSpec("ewc", params, defaults=defaults).result_path(  # noqa: E731
        tmp_path, QUICK).parent.name
    assert folder(ewc.resolve_params({})) == folder({}) == folder({"ewc_lambda": 1e5}) == "ewc"
    assert folder(ewc.resolve_params({"ewc_lambda": "1e4"})) == "ewc-ewclambda10000.0"
    assert folder({"ewc_lambda": 1e5}, None) == "ewc-ewclambda100000.0"  # defaults not known: every parameter
    both = ewc.resolve_params({"decay_factor": "0.5", "ewc_lambda": "1e4"})
    assert folder(both) == "ewc-decayfactor0.5-ewclambda10000.0"
    tuned = RunSpec("ewc", ewc.resolve_params({"ewc_lambda": "1e4"}), defaults=ewc.defaults)
    assert _params_text(tuned) == "ewc ewc_lambda=10000.0 (defaults: decay_factor=1.0)"
    assert _params_text(RunSpec("er-hull", {"buffer_size": 3}, defaults={})) == "er-hull buffer_size=3"
    assert _params_text(RunSpec("naive", {}, defaults={})) == "naive"


@pytest.mark.slow
def test_a_runs_numbers_do_not_depend_on_the_runs_before_it_in_the_process(tmp_path, monkeypatch):
    from facebench.run import runner

    monkeypatch.setattr(runner, "_GENERIC", {})  # the first run of a process loads the generic models
    first = json.loads(run(RunSpec("naive", {}, QUICK, "1", 0), tmp_path / "a").read_text())
    again = json.loads(run(RunSpec("naive", {}, QUICK, "1", 0), tmp_path / "b").read_text())
    assert first["scores"] == again["scores"]
