"""reservoir: Avalanche's own ReservoirSamplingBuffer, registered unmodified (a uniform sample of the stream)."""

from avalanche.training.storage_policy import ReservoirSamplingBuffer

from facebench import register_strategy

register_strategy("reservoir")(ReservoirSamplingBuffer)
