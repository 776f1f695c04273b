"""Shape rule and closed-form costs of the IC-style conv unit (torch-free).

Paper: An, Liu, Zhao, Shen, *IC Networks: Remodeling the Basic Unit for Convolutional Neural
Networks*, arXiv 2102.03495 (predecessors arXiv 1911.08252 and 2011.11271). The paper's own IC
formula was not available to this project (only the abstracts were found); the unit counted here
is **the project's own design** (see :mod:`deepmad.layers.ic_conv` and ``docs/ic_networks.md``),
not the formula of arXiv 2102.03495:

    y = W * x + gamma . (V * ReLU(U * x + c))

with ``W`` the plain k x k conv (c_in -> c_out, stride s, groups g), ``U`` a k x k conv
c_in -> m with bias ``c`` (same stride, padding and groups as ``W``), ``V`` a 1 x 1 conv
m -> c_out (groups g) and ``gamma`` a per-output-channel gain.

Costs of the extra branch ``U, c, V, gamma`` for an output side ``n``:

* params  ``m*(c_in/g)*k^2 + m + c_out*(m/g) + c_out``
* MACs    ``(m*(c_in/g)*k^2 + c_out*(m/g)) * n^2`` (torch convention: conv MACs only, as
  ``torch.utils.flop_counter``; bias, ReLU, gain and the add are free)
* activations ``(m + c_out) * n^2`` (outputs of the ``U`` and ``V`` convs)
* tinynas convention: the MACs above plus 1 per ReLU output element (``m n^2``) and 1 per gain
  output element (``c_out n^2``), as the reference counts one FLOP per ReLU element; bias adds
  and the residual add are not counted (the reference counts neither).
"""

from __future__ import annotations

from dataclasses import dataclass

from deepmad.spec.blocks import IC_HIDDEN_RATIO, ic_hidden_channels

__all__ = ["IC_HIDDEN_RATIO", "ICBranchCost", "ic_hidden_channels", "ic_branch_cost", "ic_tinynas_rate"]



@dataclass(frozen=True)
class ICBranchCost:
    """Costs of the extra branch of one IC conv, split by its two convs (torch convention)."""

    hidden_channels: int  # m
    gate_params: int  # U weights + bias c
    gate_macs: int  # U MACs
    proj_params: int  # V weights + gain gamma
    proj_macs: int  # V MACs

    @property
    def params(self) -> int:
        """Extra parameters of the unit over a plain conv."""
        return self.gate_params + self.proj_params

    @property
    def macs(self) -> int:
        """Extra MACs of the unit over a plain conv."""
        return self.gate_macs + self.proj_macs


def ic_branch_cost(cin: int, cout: int, k: int, g: int, out_size: int) -> ICBranchCost:
    """Extra params and MACs of an IC conv over its plain conv (module docstring formulas)."""
    m = ic_hidden_channels(cout, g)
    gate_w = m * (cin // g) * k * k
    proj_w = cout * (m // g)
    pixels = out_size * out_size
    return ICBranchCost(m, gate_w + m, gate_w * pixels, proj_w + cout, proj_w * pixels)


def ic_tinynas_rate(cin: int, cout: int, k: int, s: int, g: int = 1) -> tuple[float, float]:
    """Extra (params, FLOPs per *input* pixel) of an IC conv in the tinynas convention."""
    m = ic_hidden_channels(cout, g)
    gate_w = m * (cin / g) * k * k
    proj_w = cout * (m / g)
    params = gate_w + m + proj_w + cout
    flops = (gate_w + proj_w + m + cout) / s**2
    return params, flops
