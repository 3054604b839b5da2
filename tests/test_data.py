"""FaceWorld scenarios through load_scenario: determinism, the stream's structure, identity."""

import itertools

import numpy as np
import pytest
import torch

from facebench.data import scenario as data
from facebench.data import load_scenario
from facebench.data.faceworld import FaceWorld

TINY = {
    "resolution": 32,
    "source": {
        "kind": "faceworld",
        "world_seed": 11,
        "persons": 2,
        "sessions": 2,
        "train_per_session": 3,
        "test_per_session": 3,
    },
}


def with_seed(seed: int) -> dict:
    return {**TINY, "source": {**TINY["source"], "world_seed": seed}}


def uncached_sessions(card_path, person):
    """A person's sessions read afresh, not from the in-memory cache."""
    data._read_person.cache_clear()
    return load_scenario(card_path).sessions(person)


def pixel_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(len(a), len(b)): the mean absolute pixel difference of each image of a to each of b."""
    return (a[:, None] - b[None]).abs().mean(dim=(2, 3, 4))


def pixel_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean of ``pixel_distances`` over all pairs of distinct images."""
    distances = pixel_distances(a, b)
    if a is b:
        distances = distances[~torch.eye(len(a), dtype=torch.bool)]
    return distances.mean().item()


def test_the_same_seed_gives_the_same_bytes(write_card):
    first = uncached_sessions(write_card(TINY, "a"), 1)
    again = uncached_sessions(write_card(TINY, "b"), 1)
    for one, other in zip(first, again, strict=True):
        for split in ("train", "test"):
            images, other_images = getattr(one, split).images, getattr(other, split).images
            assert images.numpy().tobytes() == other_images.numpy().tobytes()


def test_another_seed_gives_other_persons(write_card):
    one = load_scenario(write_card(TINY, "a")).sessions(1)
    other = load_scenario(write_card(with_seed(12), "b")).sessions(1)
    difference = pixel_distance(one[0].train.images, other[0].train.images)
    print(f"\nmean pixel distance, person 1 of world 11 vs world 12: {difference:.3f}")
    assert difference > 0.05
    assert not np.allclose(one[0].train.factors.identity, other[0].train.factors.identity)


def test_frames_and_factors_are_those_the_renderer_gives(write_card):
    session = load_scenario(write_card(TINY)).sessions("0")[1]
    assert session.name == "1"
    assert session.train.frames == [0, 1, 2] and session.test.frames == [3, 4, 5]
    images, factors = FaceWorld(world_seed=11).render(person=0, session=1, frames=[4], size=32)
    assert torch.equal(images[0], session.test.images[1])
    assert np.array_equal(factors.vector[0], session.test.factors.vector[1])
    assert session.train.images.shape == (3, 3, 32, 32) and session.train.images.dtype == torch.float32
    assert 0 <= session.train.images.min() and session.train.images.max() <= 1


def test_a_persons_images_are_kept_in_memory(write_card):
    path = write_card(TINY)
    sessions = load_scenario(path).sessions(0)
    assert load_scenario(path).sessions("0") is sessions
    scenario = load_scenario(path)
    first, again = scenario.benchmark(0), scenario.benchmark(0)
    image, again_image = first.train_stream[1].dataset[2][0], again.train_stream[1].dataset[2][0]
    assert image.data_ptr() == again_image.data_ptr() == sessions[1].train.images[2].data_ptr()


@pytest.fixture(scope="module")
def quick():
    return load_scenario("faceworld-quick")


def test_frames_of_a_session_are_closer_than_sessions_of_a_person(quick):
    """The stream's structure: little diversity inside a session, large between sessions."""
    print()
    for person in quick.persons:
        train = [session.train.images for session in quick.sessions(person)]
        within = np.mean([pixel_distance(images, images) for images in train])
        between = np.mean([pixel_distance(a, b) for a, b in itertools.combinations(train, 2)])
        print(
            f"person {person}: mean pixel distance within a session {within:.3f}, "
            f"between sessions {between:.3f} (ratio {within / between:.2f})"
        )
        assert within < 0.5 * between


def test_test_images_come_from_their_own_session(quick):
    """Every test image is nearer (mean pixel distance) to its own session's train images."""
    for person in quick.persons:
        sessions = quick.sessions(person)
        for t, session in enumerate(sessions):
            to_sessions = [pixel_distances(session.test.images, s.train.images) for s in sessions]
            nearest = torch.stack([d.mean(dim=1) for d in to_sessions], dim=1).argmin(dim=1)
            assert nearest.tolist() == [t] * len(session.test.images)


def test_identity_is_fixed_for_a_person_and_differs_between_persons(quick):
    identities = {
        person: np.concatenate(
            [part.factors.identity for s in quick.sessions(person) for part in (s.train, s.test)]
        )
        for person in quick.persons
    }
    for rows in identities.values():
        assert (rows == rows[0]).all()
    first, second = identities["0"][0], identities["1"][0]
    print(f"\nmean identity-factor difference, person 0 vs 1: {np.abs(first - second).mean():.3f}")
    assert np.abs(first - second).mean() > 0.05
