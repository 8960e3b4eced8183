"""Regularized linear autoencoders recover the principal components, eventually (Bao et al. 2020)."""

import streamlit as st

import ui.widgets as w
from ui import show

st.title("Linear autoencoders find the principal axes, eventually")
st.caption("Bao, Lucas, Sachdeva, Grosse: Regularized linear autoencoders recover the principal "
           "components, eventually (NeurIPS 2020)")

st.markdown(
    "A linear autoencoder $x \\mapsto W_2 W_1 x$ with $k$ latents trained on centred data learns the "
    "top-$k$ principal **subspace**, but any rotation of its latents fits equally well. A penalty with a "
    "different weight per latent breaks the tie: the only global minima are the ordered principal "
    "**axes**. Gradient descent gets there slowly, and the rotation-augmented gradient (RAG) fast."
)
st.latex(r"L = \tfrac1n\|X - X W_1^\top W_2^\top\|_F^2 + \sum_i \lambda_i \left(\|W_1[i,:]\|^2 + "
         r"\|W_2[:,i]\|^2\right), \quad W_1^\star = W_2^{\star\top} = "
         r"\mathrm{diag}\big(\sqrt{1 - \lambda_i/\sigma_i^2}\big)\, U_k^\top")

cols = st.columns(5)
with cols[0]:
    lam = w.select_slider("Regularization scale λ", "lae_lam", [0.25, 0.5, 1.0, 2.0, 4.0], 1.0,
                          help="Non-uniform ladder λ·linspace(0.1, 0.9, k); uniform uses its mean.")
with cols[1]:
    k = w.slider("Latents k", "lae_k", 1, 12, 4)
with cols[2]:
    lr = w.select_slider("Learning rate", "lae_lr", [3e-4, 1e-3, 3e-3, 1e-2, 3e-2], 3e-3)
with cols[3]:
    optimizer = w.radio("Optimizer", "lae_opt", ["sgd", "adam"], "sgd", horizontal=True)
with cols[4]:
    steps = w.select_slider("Steps", "lae_steps", [2000, 5000, 10000, 20000], 20000)

overrides = dict(k=k, lam=lam, lr=lr, optimizer=optimizer, steps=steps)
frame = show.run("linear_ae.dynamics", overrides)
if frame is not None:
    diverged = sorted(frame.loc[frame["diverged"], "variant"].unique())
    if diverged:
        st.error(f"Training diverged for {', '.join(diverged)} at learning rate {lr:g}: lower the "
                 "learning rate. The chart shows the variants that stayed finite.")
    tabs = st.tabs(["Axis alignment", "Subspace distance", "Loss"])
    for tab, which in zip(tabs, ["alignment", "subspace", "loss"]):
        with tab:
            show.chart("linear_ae.dynamics", frame, which)

st.markdown(
    "**What to notice.** *Uniform* L2 drives the subspace distance to zero yet its alignment stalls "
    "wherever the initial rotation left it. The *non-uniform* ladder creeps towards 0 because the loss "
    "is nearly flat along latent rotations. RAG removes that flat direction and aligns within a few "
    "hundred steps. With Adam the picture changes: its per-coordinate scaling is not rotation-invariant."
)

st.subheader("Which latent holds which principal axis")
at_step = w.select_slider("Snapshot at step", "lae_at", [0, 200, 1000, 2000, 5000, 20000], 2000)
snapshot = show.run("linear_ae.snapshot", {**overrides, "at_step": min(at_step, steps)})
if snapshot is not None:
    show.chart("linear_ae.snapshot", snapshot)
    st.caption("A permutation matrix of ones means every principal axis has its own decoder column.")

with st.expander("Steps to reach the axes as k grows (the paper's Fig. 4)"):
    scaling = show.run_on_demand("linear_ae.scaling", {"optimizer": optimizer}, seconds="about 10 s")
    if scaling is not None:
        show.chart("linear_ae.scaling", scaling)

with st.expander("Decoder columns as images (digits)"):
    variant = w.selectbox("Variant", "lae_variant",
                          ["uniform", "non_uniform", "rotation", "non_uniform+rotation"], "non_uniform+rotation")
    images = show.run_on_demand("linear_ae.decoders", {"variant": variant}, seconds="about 3 s")
    if images is not None:
        st.caption(f"Axis alignment after training: {images['axis_alignment'].iloc[0]:.2e}")
        show.chart("linear_ae.decoders", images)
