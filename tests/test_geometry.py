"""The geometry report: distances, effective dimension, nearest sessions, hull coverage, and the command."""

import json

import numpy as np
import pytest

from facebench.cli import main
from facebench.data.geometry import hull_coverage, participation_ratio, space_geometry


def test_distances_within_and_between_sessions_by_hand():
    # session 0: (0, 0) and (2, 0); session 1: (0, 5) and (2, 5)
    sessions = [np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([[0.0, 5.0], [2.0, 5.0]])]
    g = space_geometry(sessions)
    diagonal = np.hypot(2, 5)
    assert g.within == pytest.approx(2.0)
    assert g.between == pytest.approx((5 + 5 + 2 * diagonal) / 4)
    assert g.ratio == pytest.approx(g.between / 2.0)
    assert g.nearest_item == pytest.approx(5.0)
    assert g.nearest_sessions() == [1, 0]
    assert space_geometry(sessions, scale=0.5).within == pytest.approx(1.0)


def test_the_nearest_session_is_the_one_of_least_mean_distance():
    rng = np.random.default_rng(0)
    centres = [0.0, 10.0, 1.0, 30.0]
    sessions = [c + rng.normal(size=(5, 3)) for c in centres]
    assert space_geometry(sessions).nearest_sessions() == [2, 2, 0, 1]


def test_participation_ratio_counts_the_directions_the_points_spread_over():
    rng = np.random.default_rng(1)
    assert participation_ratio(rng.normal(size=(20000, 4))) == pytest.approx(4, rel=0.02)
    line = np.outer(rng.normal(size=500), [1.0, 2.0, 3.0])
    assert participation_ratio(line) == pytest.approx(1.0)
    uneven = rng.normal(size=(20000, 2)) * [1.0, 0.0001]
    assert participation_ratio(uneven) == pytest.approx(1.0, abs=1e-3)


def test_a_session_repeated_elsewhere_is_covered_by_the_best_buffer_only():
    rng = np.random.default_rng(2)
    sessions = [rng.normal(size=(4, 6)) * 2 + 20 * rng.normal(size=6) for _ in range(4)]
    sessions[3] = np.repeat(sessions[0][:1], 4, axis=0)  # session 3: one item of session 0, four times
    coverage = hull_coverage(sessions, buffer_sizes=(1, 3), candidates=500)
    for k, c in coverage.items():
        assert c.best[3] == pytest.approx(0.0, abs=1e-9)  # a buffer holding that item
        assert c.random[3] > 1.0 and all(b <= r for b, r in zip(c.best, c.random))
    assert coverage[1].candidates[3] == 12 and coverage[3].candidates[3] == 4**3  # all balanced buffers
    assert hull_coverage(sessions, (3,), 20) == hull_coverage(sessions, (3,), 20)  # 20 random ones, seeded


def test_the_geometry_command_prints_the_tables_and_writes_json_and_a_plot(tmp_path, capsys, anchor_cache):
    report, figure = tmp_path / "geometry.json", tmp_path / "geometry.png"
    argv = ["data", "geometry", "--scenario", "faceworld-quick", "--person", "1", "--json", str(report),
            "--plot", str(figure)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "geometry of faceworld-quick, person 1" in out and "K=10" in out
    data = json.loads(report.read_text())
    assert data["scenario"] == "faceworld-quick" and data["items_per_session"] == [6, 6, 6]
    for space in ("latent", "pixels"):
        assert data[space]["between"] > 0 and data[space]["ratio"] == pytest.approx(
            data[space]["between"] / data[space]["within"], rel=1e-3)
        assert 1 <= data[space]["effective_dimension"] <= 17
    assert set(data["hull"]) == {"3", "5", "10"}
    assert all(b <= r for k in data["hull"].values() for b, r in zip(k["best"], k["random"]))
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_geometry_command_names_an_unknown_person(capsys):
    assert main(["data", "geometry", "--scenario", "faceworld-quick", "--person", "9"]) == 2
    assert "unknown person '9'" in capsys.readouterr().err


def test_the_geometry_of_a_one_session_stream_is_an_error(write_card):
    from facebench.data import load_scenario
    from facebench.data.geometry import person_geometry
    from facebench.data.sources import DataError

    card = {"source": {"kind": "faceworld", "world_seed": 0, "persons": 1, "sessions": 1, "train_per_session": 3,
                       "test_per_session": 1}}
    with pytest.raises(DataError, match="at least 2 sessions"):
        person_geometry(load_scenario(write_card(card)), "0")
