"""Cumulative fine-tuning on everything seen so far: the unbounded-buffer reference."""

from __future__ import annotations

from facebench import register_strategy


@register_strategy("cumulative", kind="cumulative")
def cumulative() -> list:
    """Cumulative fine-tuning on everything seen so far: the unbounded-buffer reference.

    Session t fine-tunes the model of session t-1 for ``steps_per_session`` steps on the
    training anchors of sessions 0..t together, with mini-batches of
    ``batch_new + batch_replay`` samples (the size of a replay run's mini-batches): replay
    with a buffer that keeps every earlier photo.
    """
    return []
