"""The generic face model zoo: generator (mapping + synthesis, W space), encoder, perceptual distance,
identity network; inversion; the shipped assets (``load``) and their pretraining."""

from .encoder import Encoder
from .generator import Generator, MappingNetwork, SynthesisNetwork
from .identity import IdentityNet
from .inversion import invert
from .losses import reconstruction_loss
from .perceptual import PerceptualDistance
from .zoo import NAMES, AssetError, cards, load

__all__ = ["NAMES", "AssetError", "Encoder", "Generator", "IdentityNet", "MappingNetwork", "PerceptualDistance",
           "SynthesisNetwork", "cards", "invert", "load", "reconstruction_loss"]
