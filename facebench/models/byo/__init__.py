"""Bring-your-own models: the user's files for a card's model roles (the card's ``models``).

``stylegan2``: a StyleGAN2 generator in rosinality's PyTorch layout; ``e4e``: the e4e encoder;
``mean_latent``: the encoder that starts every inversion at the mean latent;
``lpips_distance``: LPIPS with the backbone from the local torch hub cache; ``arcface``: an
ArcFace iresnet backbone in insightface's layout; ``files``: reading and checking a user's
file (:class:`ModelFileError`); ``load``: a card role's backend name, sha256 and module.
Nothing here downloads anything.
"""

from .files import ModelFileError

__all__ = ["ModelFileError"]
