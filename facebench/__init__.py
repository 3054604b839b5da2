"""facebench: a continual-learning benchmark for personalised generative face models.

Importing the package is cheap: submodules (``facebench.data``, ``facebench.data.cards``, ...)
are imported by whoever needs them.
"""

import warnings
from importlib.metadata import version

__version__ = version("facebench")

# avalanche imports qpsolvers, which warns at import when it finds no QP solver; only the GEM
# plugin needs one, and facebench does not use it.
warnings.filterwarnings("ignore", message=r"no QP solver found", category=UserWarning)

from facebench.registry import register_strategy  # noqa: E402  (public: the decorator of strategies)
