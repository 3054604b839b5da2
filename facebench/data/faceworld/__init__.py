"""FaceWorld: a procedural world of faces, rendered offline, deterministically, on the CPU.

See ``factors`` for what varies per person, per session and per frame, ``render`` for how a
face is painted, ``world`` for how seeds make persons, sessions and frames, and ``life`` for
the session process with the structure of a real photo history.
"""

from .factors import FACTOR_NAMES, IDENTITY_NAMES, Factors
from .life import Life
from .world import INDEPENDENT, FaceWorld, Population, SessionProcess, render_keys

__all__ = ["FACTOR_NAMES", "IDENTITY_NAMES", "INDEPENDENT", "FaceWorld", "Factors", "Life", "Population",
           "SessionProcess", "render_keys"]
