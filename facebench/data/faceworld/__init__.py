"""FaceWorld: a procedural world of faces, rendered offline, deterministically, on the CPU.

See ``factors`` for what varies per person, per session and per frame, ``render`` for how a
face is painted, and ``world`` for how seeds make persons, sessions and frames.
"""

from .factors import FACTOR_NAMES, IDENTITY_NAMES, Factors
from .world import FaceWorld, Population, render_keys

__all__ = ["FACTOR_NAMES", "IDENTITY_NAMES", "FaceWorld", "Factors", "Population", "render_keys"]
