"""The data layer: scenario cards, image sources (FaceWorld, folders of photos), the Avalanche
scenario of a person's sessions, the personalisation items and contact sheets."""

from facebench.data.scenario import Scenario, load_scenario
from facebench.data.sources import DataError

__all__ = ["DataError", "Scenario", "load_scenario"]
