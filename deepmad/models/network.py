"""``Network``: spec -> ``nn.Module`` with the timm-style interface. The builder never scores."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from deepmad.layers.conv_bn_act import ConvBNActLayer
from deepmad.models.blocks import BLOCKS
from deepmad.spec.blocks import ResNetStem
from deepmad.spec.network import NetworkSpec

__all__ = ["Network"]


def _stem(spec: NetworkSpec) -> nn.Module:
    s = spec.stem
    if isinstance(s, ResNetStem):
        return nn.Sequential(
            ConvBNActLayer(spec.in_channels, s.out_channels, s.kernel_size, 2),
            nn.MaxPool2d(3, 2, padding=1),
        )
    return ConvBNActLayer(spec.in_channels, s.out_channels, s.kernel_size, s.stride, s.groups, s.act, s.conv)


class Network(nn.Module):
    """A CNN built from a :class:`NetworkSpec`: ``stem -> stages -> [final_conv] -> head``.

    Attributes:
        spec: the spec it was built from.
        num_features: channels entering the classifier.
        feature_info: one dict per stage (``num_chs``, ``reduction``, ``module``), as timm.
    """

    def __init__(self, spec: NetworkSpec, zero_init_last_bn: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.stem = _stem(spec)
        stages = []
        cin = spec.stem.out_channels
        reduction = spec.stem.stride
        self.feature_info: list[dict[str, Any]] = [
            {"num_chs": cin, "reduction": reduction, "module": "stem"}]
        for i, st in enumerate(spec.stages):
            blocks = [BLOCKS[st.block](st, cin if j == 0 else st.out_channels,
                                       st.stride if j == 0 else 1, j == 0) for j in range(st.depth)]
            stages.append(nn.Sequential(*blocks))
            cin = st.out_channels
            reduction *= st.stride
            self.feature_info.append({"num_chs": cin, "reduction": reduction, "module": f"stages.{i}"})
        self.stages = nn.Sequential(*stages)
        fc = spec.final_conv
        self.final_conv = (nn.Identity() if fc is None else
                           ConvBNActLayer(cin, fc.out_channels, fc.kernel_size, fc.stride, fc.groups, fc.act, fc.conv))
        self.num_features = spec.num_features
        self.drop_rate = spec.head.dropout
        self.num_classes = spec.head.num_classes
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(self.drop_rate)
        self.fc: nn.Module = (nn.Linear(self.num_features, self.num_classes)
                              if self.num_classes > 0 else nn.Identity())
        self._init_weights(zero_init_last_bn)

    def _init_weights(self, zero_init_last_bn: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)
        if zero_init_last_bn:
            for m in self.modules():
                if hasattr(m, "zero_init_last_bn") and m is not self:
                    m.zero_init_last_bn()

    def get_classifier(self) -> nn.Module:
        """The final linear layer (identity when ``num_classes == 0``)."""
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a fresh one of ``num_classes`` outputs (0 removes it)."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.spec = self.spec.replace(head=self.spec.head.__class__(num_classes, self.spec.head.dropout))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, num_features, H', W') before pooling."""
        return self.final_conv(self.stages(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global pool -> dropout -> linear; ``pre_logits`` returns the pooled features."""
        x = self.global_pool(x).flatten(1)
        x = self.head_drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
