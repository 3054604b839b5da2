"""Cross-session identity verification of the zoo's identity network on benchmark persons (issue #15).

Run from the checkout's root (about a minute on one core):

    .venv/bin/python benchmarks/identity_verification.py

Per person, every session's first 4 test frames (frames ``train_per_session`` .. + 3), rendered
by the card's world and session process. Pairs: every two images of different sessions;
positive = the same person, negative = different persons. The pairs are split at random into
two halves (seed 0); the cosine threshold that maximises the balanced accuracy (the mean of the
positive and the negative pairs' accuracies) on half A is applied to half B, whose balanced
accuracy is printed. The identity scores of a board rest on this network: it must reach 95% on
the persons of `faceworld` and `faceworld-life`.
"""

from __future__ import annotations

import numpy as np
import torch

from facebench.data.cards import load_card
from facebench.data.faceworld import INDEPENDENT, FaceWorld, Life
from facebench.models import zoo

FRAMES = 4
CASES = [("faceworld", 5, None), ("faceworld", 10, None), ("faceworld", 10, 9173), ("faceworld", 10, 4242),
         ("faceworld-life", 5, None), ("faceworld-life", 10, None), ("faceworld-life-dev", 10, None)]
"""(card, persons, world seed or None for the card's own)."""


def verification(net, card: str, persons: int, seed: int | None = None) -> dict:
    """Balanced accuracy on half B, the threshold fitted on half A, and the pairs' mean cosines."""
    source = load_card(card).data["source"]
    life = source.get("life")
    world = FaceWorld(source["world_seed"] if seed is None else seed,
                      Life.from_card(life, source["sessions"]) if life else INDEPENDENT)
    first = source["train_per_session"]
    embeddings, person, session = [], [], []
    for p in range(persons):
        for s in range(source["sessions"]):
            images, _ = world.render(p, s, range(first, first + FRAMES), 64)
            with torch.no_grad():
                embeddings.append(net(images))
            person += [p] * FRAMES
            session += [p * source["sessions"] + s] * FRAMES
    e, person, session = torch.cat(embeddings).numpy(), np.array(person), np.array(session)
    i, j = np.triu_indices(len(e), 1)
    i, j = i[session[i] != session[j]], j[session[i] != session[j]]
    cosine, same = (e[i] * e[j]).sum(1), person[i] == person[j]
    half = np.random.default_rng(0).random(len(cosine)) < 0.5

    def balanced(threshold, mask):
        return 0.5 * ((cosine[mask & same] >= threshold).mean() + (cosine[mask & ~same] < threshold).mean())

    candidates = np.quantile(cosine[half], np.linspace(0, 1, 2001))
    threshold = candidates[int(np.argmax([balanced(c, half) for c in candidates]))]
    return {"accuracy": balanced(threshold, ~half), "threshold": threshold, "positive": cosine[same].mean(),
            "negative": cosine[~same].mean(), "pairs": (int(same.sum()), int((~same).sum()))}


def main() -> None:
    torch.set_num_threads(1)
    net = zoo.load("identity", 64).eval()
    for card, persons, seed in CASES:
        r = verification(net, card, persons, seed)
        print(f"{card:20s} seed {'card' if seed is None else seed:>5} persons {persons:2d}: verification "
              f"{100 * r['accuracy']:.1f}% (threshold {r['threshold']:.3f}; mean cosine same {r['positive']:.3f}, "
              f"other {r['negative']:.3f}; {r['pairs'][0]} + {r['pairs'][1]} pairs)", flush=True)


if __name__ == "__main__":
    main()
