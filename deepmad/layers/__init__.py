"""Reusable torch layers, one concept per module."""

from deepmad.layers.conv_bn_act import ConvBN, ConvBNActLayer, get_act_layer
from deepmad.layers.create import create_conv
from deepmad.layers.ic_conv import ICConv2d

__all__ = ["ConvBN", "ConvBNActLayer", "ICConv2d", "create_conv", "get_act_layer"]
