"""Neural tangent kernels (Arora et al., NeurIPS 2019): finite nets become kernel machines."""

import streamlit as st

import ui.widgets as w
from engine.phenomena.ntk.charts import paper_table
from ui import show

st.title("Neural tangent kernels")
st.caption("Arora, Du, Hu, Li, Salakhutdinov, Wang: On Exact Computation with an Infinitely Wide Neural Net (NeurIPS 2019)")
st.markdown(
    "A ReLU network in the NTK parameterisation, trained by gradient descent, behaves more and more like "
    "**kernel regression with a fixed kernel** as its width grows. For fully connected nets the kernel has "
    "a closed form (c_σ = 2, no bias, ρ the correlation, t = arccos ρ):"
)
st.latex(r"\Sigma^{h} = \frac{\sqrt{\Sigma_{xx}\Sigma_{x'x'}}}{\pi}\big(\sin t + (\pi - t)\cos t\big),\quad"
         r"\dot\Sigma^{h} = \frac{\pi - t}{\pi},\quad \Theta^{h} = \Theta^{h-1}\dot\Sigma^{h} + \Sigma^{h},\quad"
         r"\Theta^{0} = \Sigma^{0} = x\cdot x'")

with st.sidebar:
    st.subheader("NTK controls")
    width = w.select_slider("Width of the finite net", "ntk_width", [16, 32, 64, 128, 256, 512, 1024, 2048, 4096], 256)
    depth = w.slider("Depth (hidden layers)", "ntk_depth", 1, 6, 3)
    n_train = w.slider("Training points (1-D task)", "ntk_ntrain", 4, 32, 8)
    ridge = w.select_slider("Ridge (relative to mean diag K)", "ntk_ridge", [0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], 0.0)

st.header("1. A finite network's kernel approaches the exact one")
frame = show.run("ntk.heatmap", {"width": width, "depth": depth})
if frame is not None:
    show.chart("ntk.heatmap", frame)
st.markdown("**What to notice:** at small width the empirical kernel is a noisy copy of the exact one; drag "
            "the width up and the two heatmaps become indistinguishable. The NNGP kernel (right) is the "
            "output covariance at initialisation, a different kernel.")

frame = show.run("ntk.convergence", {"depth": depth})
if frame is not None:
    left, right = st.columns(2)
    with left:
        show.chart("ntk.convergence", frame, "main")
    with right:
        show.chart("ntk.convergence", frame, "lazy")
    st.markdown("**What to notice:** on log-log axes the error falls along the dashed 1/√width line, so "
                "error × √width stays roughly constant; and training moves the kernel less the wider the "
                "net is (lazy training). Red diamonds: the paper's figure (depth 3).")

st.header("2. Trained wide networks predict like NTK regression")
st.latex(r"f_{\mathrm{NTK}}(x) = \Theta(x, X)\,\big(\Theta(X, X) + \lambda\,\overline{\mathrm{diag}}\,I\big)^{-1} y")
curve_depth = min(depth, 2)
frame = show.run("ntk.curve", {"depth": curve_depth, "n_train": n_train, "ridge": ridge})
if frame is not None:
    show.chart("ntk.curve", frame, "main")
    show.chart("ntk.curve", frame, "distance")
    st.markdown(f"Networks with {curve_depth} hidden layer(s) (capped at 2 to train live), output centred "
                "(f − f₀) and trained by full-batch GD without regularisation. **What to notice:** the "
                "widest network lies on the black kernel curve; the ridge slider only smooths the kernel "
                "predictor, so the networks drift away from it when the ridge is large.")
frame = show.run("ntk.digits", {"depth": min(depth, 2)})
if frame is not None:
    show.chart("ntk.digits", frame)
    st.markdown("On digits the reference is the NTK predictor after the same number of GD steps; "
                "agreement is the share of test digits where net and kernel pick the same class.")

st.header("3. Classifying images with exact kernels")
with_gap = w.toggle("Include CNTK-GAP (slower: about 10-30 s on a laptop)", "ntk_gap", False)
kernels = ["FC-NTK", "FC-NNGP", "CNTK-V"] + (["CNTK-GAP"] if with_gap else [])
overrides = {"kernels": kernels, "ridge": ridge}
if with_gap:
    overrides.update(n_train=100, n_test=100)
frame = show.run("ntk.classify", overrides)
if frame is not None:
    show.chart("ntk.classify", frame)
    st.dataframe(frame[["kernel", "depth", "accuracy", "paper_accuracy", "dataset", "n_train", "n_test"]],
                 hide_index=True)
st.markdown("The paper's CIFAR-10 test accuracy (%) for comparison (kernels, and trained CNNs of the same "
            "architecture). Fill ours with `python -m engine precompute ntk.classify --preset paper` on a GPU.")
st.dataframe(paper_table())
st.markdown("**What to notice:** GAP helps the CNTK a lot on CIFAR-10 (77.4% vs 66%), yet trained CNN-GAP "
            "nets still beat it (83-84%): finite width and training add something the kernel lacks.")
