"""Building blocks shared by the architectures: SN layers with init, conditional BN, attention."""

from ganforge.nn.attention import SelfAttention
from ganforge.nn.conditional_bn import ConditionalBatchNorm2d
from ganforge.nn.layers import LayerFactory

__all__ = ["ConditionalBatchNorm2d", "LayerFactory", "SelfAttention"]
