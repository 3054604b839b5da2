"""Naive sequential fine-tuning, no memory: the lower bound."""

from __future__ import annotations

from facebench import register_strategy


@register_strategy("naive")
def naive() -> list:
    """Naive sequential fine-tuning, no memory: the lower bound.

    Session t fine-tunes the model of session t-1 on session t's training anchors alone
    (mini-batches of ``batch_new`` samples). It keeps nothing of earlier sessions, so it shows
    how much the protocol forgets when nothing is done about it.
    """
    return []
