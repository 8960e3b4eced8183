"""NTK science, what a notebook imports: numpy/torch in, float64 numpy out.

- :func:`ntk_fc`, :func:`nngp_fc`: exact kernels of a fully connected ReLU net (paper convention).
- :func:`cntk`, :func:`cntk_depths`: the paper's CNTK dynamic program (3x3 conv, GAP or vanilla).
- :func:`empirical_ntk`, :func:`ensemble_ntk`: tangent kernels of torch modules (torch.func);
  :class:`NTKMLP`, :class:`CNTKNet`: the finite nets whose kernels converge to the exact ones.
- :func:`kernel_regression`, :func:`gd_kernel_predictor`: the kernel predictors.
"""

from engine.phenomena.ntk.science.cntk import CNTK_BLOCK_VERSION, cntk, cntk_block_dir, cntk_depths
from engine.phenomena.ntk.science.fc import (
    circle_points,
    curve_target,
    gd_kernel_predictor,
    kernel_regression,
    nngp_fc,
    ntk_fc,
    one_hot_targets,
    relative_error,
    sphere_points,
    stable_lr,
)
from engine.phenomena.ntk.science.nets import (
    NTKMLP,
    CNTKNet,
    cnn_kernel_errors,
    empirical_ntk,
    ensemble_ntk,
    train_centered,
)

__all__ = [
    "CNTK_BLOCK_VERSION",
    "CNTKNet",
    "NTKMLP",
    "circle_points",
    "cntk",
    "cntk_block_dir",
    "cntk_depths",
    "cnn_kernel_errors",
    "curve_target",
    "empirical_ntk",
    "ensemble_ntk",
    "gd_kernel_predictor",
    "kernel_regression",
    "nngp_fc",
    "ntk_fc",
    "one_hot_targets",
    "relative_error",
    "sphere_points",
    "stable_lr",
    "train_centered",
]
