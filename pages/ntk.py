"""Neural tangent kernels (Arora et al., NeurIPS 2019): finite nets become kernel machines.

The first screen (the kernel heatmaps) computes at once; every other view waits behind one compute
button (instant when cached or shipped), and each section is an ``st.fragment``, so its widgets
rerun only that section.
"""

import streamlit as st

import ui.widgets as w
from engine.core.params import bounds
from engine.phenomena.ntk import experiments as ntk
from engine.phenomena.ntk.charts import classify_table
from engine.phenomena.ntk.paper import paper_table
from ui import show

st.title("Neural tangent kernels")
st.caption(
    "Arora, Du, Hu, Li, Salakhutdinov, Wang: On Exact Computation with an Infinitely Wide Neural Net (NeurIPS 2019)"
)
st.markdown(
    "A ReLU network in the NTK parameterisation, trained by gradient descent, behaves more and more like "
    "**kernel regression with a fixed kernel** as its width grows. For fully connected nets the kernel has "
    "a closed form (c_σ = 2, no bias, ρ the correlation, t = arccos ρ):"
)
st.latex(
    r"\Sigma^{h} = \frac{\sqrt{\Sigma_{xx}\Sigma_{x'x'}}}{\pi}\big(\sin t + (\pi - t)\cos t\big),\quad"
    r"\dot\Sigma^{h} = \frac{\pi - t}{\pi},\quad \Theta^{h} = \Theta^{h-1}\dot\Sigma^{h} + \Sigma^{h},\quad"
    r"\Theta^{0} = \Sigma^{0} = x\cdot x'"
)
st.caption(
    "Quick scale throughout: small synthetic sets and sklearn's 8x8 digits on a CPU. The paper's numbers "
    "are CIFAR-10 (50k images, GPU-days): they are drawn as black marks, a scale to read ours against, "
    "not the same measurement."
)


@st.fragment
def kernels_section() -> None:
    st.header("1. A finite network's kernel approaches the exact one")
    left, right = st.columns(2)
    with left:
        width = w.select_slider(
            "Width of the finite net", "ntk_width", [16, 32, 64, 128, 256, 512, 1024, 2048, 4096], 256
        )
    with right:
        depth = w.slider(
            "Depth (hidden layers)", "ntk_depth", 1, int(bounds(ntk.HeatmapConfig, "depth")[1]), 3
        )
    frame = show.run("ntk.heatmap", {"width": width, "depth": depth})
    if frame is not None:
        show.chart("ntk.heatmap", frame)
    st.markdown(
        "**What to notice:** at small width the empirical kernel is a noisy copy of the exact one; drag "
        "the width up and the two heatmaps become indistinguishable. The NNGP kernel (right) is the "
        "output covariance at initialisation, a different kernel."
    )
    frame = show.run_on_demand("ntk.convergence", {"depth": min(depth, 5)}, key="ntk_go_conv")
    if frame is not None:
        chart_left, chart_right = st.columns(2)
        with chart_left:
            show.chart("ntk.convergence", frame, "main")
        with chart_right:
            show.chart("ntk.convergence", frame, "lazy")
        st.markdown(
            "**What to notice:** on log-log axes the error falls along the dashed 1/√width line, so "
            "error × √width stays roughly constant; and training moves the kernel less the wider the "
            "net is (lazy training). Black diamonds: the paper's Figure 1 (depth 3, read off the plot). "
            "The nets here have at most 5 hidden layers."
        )


@st.fragment
def predictions_section() -> None:
    st.header("2. Trained wide networks predict like NTK regression")
    st.latex(
        r"f_{\mathrm{NTK}}(x) = \Theta(x, X)\,\big(\Theta(X, X) + \lambda\,\overline{\mathrm{diag}}\,I\big)^{-1} y"
    )
    left, mid, right = st.columns(3)
    with left:
        depth = w.slider("Hidden layers", "ntk_pdepth", 1, 2, 1)
    with mid:
        n_train = w.slider("Training points (1-D task)", "ntk_ntrain", 4, 32, 8)
    with right:
        ridge = w.select_slider(
            "Ridge (relative to mean diag K)", "ntk_ridge", [0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], 0.0
        )
    overrides = {"depth": depth, "n_train": n_train, "ridge": ridge}
    frame = show.run_on_demand("ntk.curve", overrides, key="ntk_go_curve")
    if frame is not None:
        show.chart("ntk.curve", frame, "main")
        show.chart("ntk.curve", frame, "distance")
        st.markdown(
            "Networks with 1 or 2 hidden layers (to train live), output centred (f − f₀), trained by "
            "full-batch GD without regularisation. **What to notice:** the widest network lies on the "
            "black kernel curve; the ridge only smooths the kernel predictor, so the nets drift from it."
        )
    frame = show.run_on_demand("ntk.digits", {"depth": depth}, key="ntk_go_digits")
    if frame is not None:
        show.chart("ntk.digits", frame)
        st.markdown(
            "On digits the reference is the NTK predictor after the same number of GD steps; "
            "agreement is the share of test digits where net and kernel pick the same class."
        )


@st.fragment
def cnn_section() -> None:
    st.header("3. A finite CNN's kernel approaches the exact CNTK")
    st.markdown(
        "The paper's Monte-Carlo check on convolutional nets, at quick scale: 8 digits (8x8), a CNN with "
        "2 conv layers (depth 3, GAP), 16-256 channels x 4 seeds (paper: CIFAR-10 images). Its tangent "
        "kernel comes from batched Jacobians (torch.func, float32, vmapped over seeds)."
    )
    frame = show.run_on_demand("ntk.cntk_convergence", {}, key="ntk_go_cnn")
    if frame is not None:
        show.chart("ntk.cntk_convergence", frame)
        st.markdown(
            "**What to notice:** both curves fall along 1/√channels. With CNTK.py's `--fix` (first and "
            "last layer not trained) the net is compared with the fixed CNTK, a different kernel."
        )


@st.fragment
def classify_section() -> None:
    st.header("4. Classifying images with exact kernels")
    ridge = w.select_slider("Ridge of the classifier", "ntk_cridge", [0.0, 1e-4, 1e-3, 1e-2, 1e-1], 0.0)
    with_gap = w.toggle("Include CNTK-GAP (100/100 digits)", "ntk_gap", False)
    overrides = {
        "kernels": ["FC-NTK", "FC-NNGP", "CNTK-V"] + (["CNTK-GAP"] if with_gap else []),
        "ridge": ridge,
    }
    if with_gap:
        overrides.update(n_train=100, n_test=100)
    frame = show.run_on_demand("ntk.classify", overrides, key="ntk_go_cls")
    if frame is not None:
        show.chart("ntk.classify", frame)
        st.dataframe(classify_table(frame), hide_index=True)
    st.markdown(
        "The paper's CIFAR-10 test accuracy (%) (kernels, and trained CNNs of the same architecture). "
        "Fill ours with `python -m engine precompute ntk.classify --preset paper` on a GPU."
    )
    st.dataframe(paper_table())
    st.markdown(
        "**What to notice:** GAP helps the CNTK a lot on CIFAR-10 (77.4% vs 66%), yet trained CNN-GAP "
        "nets still beat it (83-84%): finite width and training add something the kernel lacks."
    )
    st.subheader("Ablation: fixing the first and last layer (CNTK.py's --fix)")
    frame = show.run_on_demand("ntk.fix_ablation", {}, key="ntk_go_fix")
    if frame is not None:
        show.chart("ntk.fix_ablation", frame)
        st.markdown(
            "Quick scale: 100 train / 60 test digits, float32 DP. The paper's GAP numbers use `--fix`, its "
            "vanilla numbers do not. **What to notice:** the kernels differ a lot (relative distance "
            f"{frame.kernel_distance.min():.2f}-{frame.kernel_distance.max():.2f}), the accuracies hardly."
        )


kernels_section()
predictions_section()
cnn_section()
classify_section()
