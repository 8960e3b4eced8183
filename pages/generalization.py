"""Uniform convergence of a derandomized surrogate (Negrea, Dziugaite, Roy, ICML 2020)."""

import streamlit as st

import ui.widgets as w
from engine.phenomena.generalization.experiments import N_GRIDS, NOISE_LEVELS, RIDGES, SPIKES, TAIL_EXPONENTS
from ui import show

LIN, NK = "generalization.linear", "generalization.nk"
SURROGATES = {"denoising": "denoising h̃ = X⁺Xθ* (the paper's)", "head": "head coordinates of ĥ"}

st.title("In defense of uniform convergence")
st.caption("Negrea, Dziugaite, Roy (ICML 2020): generalization via derandomization, applied to interpolators.")
st.markdown(
    "An interpolator ĥ fits the label noise, yet can predict well. Every two-sided uniform-convergence (UC) "
    "bound over a class that contains ĥ is then stuck at or above the noise level (Nagarajan & Kolter, 2019). "
    "The paper's way out: apply UC to a **surrogate** h̃ -- a derandomization of ĥ that forgets the noise -- "
    "and pay separately for how far its risk is from ĥ's:")
st.latex(r"R(\hat h)\;\le\;\hat R_S(\tilde h)\;+\;\sup_{h\in\tilde{\mathcal H}_n}|R(h)-\hat R_S(h)|"
         r"\;+\;|R(\hat h)-R(\tilde h)|")

st.header("1. Minimum-norm interpolation (benign overfitting)")
st.markdown(
    "Data: $x\\sim N(0,\\Sigma)$, $\\Sigma=\\mathrm{diag}(s\\,1_k,\\ \\lambda_t 1_{p_t})$ with $k=3$ spikes of "
    "strength $s$, a flat tail of dimension $p_t=\\lceil n^a\\rceil\\gg n$ and $\\lambda_t=\\sqrt n/p_t$; "
    "$y=x\\cdot\\theta^*+\\varepsilon$, $\\theta^*$ a unit vector in the spikes, $\\mathrm{Var}\\,\\varepsilon=\\sigma^2$.")
st.latex(r"\hat\theta = X^\top(XX^\top)^{-1}y,\qquad \tilde\theta_{\rm denoise}=X^\top(XX^\top)^{-1}X\theta^*"
         r"=\mathbb E[\hat\theta\mid X],\qquad R(\theta)=\sigma^2+(\theta-\theta^*)^\top\Sigma(\theta-\theta^*)")
st.markdown("UC bound used for a ball $\\{\\theta: |\\theta|_2\\le B\\}$ in the coordinates $C$ (all, or the "
            "spikes for the head surrogate), with $r_C=\\mathrm{tr}\\,\\Sigma_C/\\|\\Sigma_C\\|$:")
st.latex(r"\mathbb E\sup_{|\theta|\le B}|R-\hat R_S|\;\le\;\frac{\mathrm{sd}(y^2)}{\sqrt n}"
         r"+2B\sqrt{\frac{\mathbb E[y^2|x_C|^2]}{n}}+B^2\|\Sigma_C\|\Big(\sqrt{\frac{r_C}{n}}+\frac{r_C}{n}\Big)")
st.caption("From R − R̂ = (E y² − mean y²) − 2θ·(E yx − mean yx) + θᵀ(Σ − Σ̂)θ. The first two terms are exact "
           "(Jensen: the middle one is the Rademacher/Gaussian complexity B·sqrt(tr Σ/n) times the label size); the "
           "last is Koltchinskii-Lounici's covariance bound with its constant set to 1, so constants are "
           "illustrative. B is the norm of the predictor (ĥ for the ball bound, h̃ for the surrogate class).")

cols = st.columns(4)
with cols[0]:
    n_max = w.select_slider("largest n", "gen_n_max", list(N_GRIDS), 3200)
with cols[1]:
    noise = w.select_slider("noise σ", "gen_noise", NOISE_LEVELS, 1.0)
with cols[2]:
    tail = w.select_slider("tail exponent a (p_t = n^a)", "gen_tail", TAIL_EXPONENTS, 1.5)
with cols[3]:
    spike = w.select_slider("spike strength s", "gen_spike", SPIKES, 1.0)
surrogate = w.radio("surrogate", "gen_surrogate", list(SURROGATES), "denoising",
                    format_func=SURROGATES.get, horizontal=True)
frame = show.run(LIN, {"n_values": N_GRIDS[n_max], "noise": noise, "tail_exponent": tail, "spike": spike})
if frame is not None:
    show.chart(LIN, frame, surrogate)
    with st.expander("Why the ball does not shrink: the norms"):
        show.chart(LIN, frame, "norms")
st.markdown(
    "**What to notice.** The training error of ĥ is 0 at every n, and its test risk falls to the noise level "
    "σ² (dashed): benign overfitting. The UC bound over the smallest ball that holds ĥ does not fall -- the "
    "noise-fitting part X⁺ε has norm² ≈ σ²n/tr Σ_tail, which grows, so B·sqrt(tr Σ/n) stays of order σ. "
    "The surrogate's class is a ball of radius ≤ |θ*| = 1: its UC term falls like (tr Σ/n)^¼, and the coupling "
    "|R(ĥ) − R(h̃)| (the variance σ²(k/n + n/p_t)) falls too, so the total bound heads to the truth. The head "
    "surrogate lives in k = 3 dimensions and its bound falls faster (like n^-½).")

st.header("2. Nagarajan & Kolter's example")
st.markdown(
    "x = (x₁, x₂): x₁ = 2y·u with |u|² = 1/m, x₂ ~ N(0, (32/D) I_D) with D = factor·m ≫ m. One gradient step "
    "from 0 gives w = (1/m) Σ yᵢxᵢ. The derandomized classifier h̃(x) = E[h_S(x) | labels] = 2u·x₁ is one "
    "fixed predictor, bounded by Hoeffding: sqrt(log(2/δ)/(2m)), δ = 0.05.")
factor = w.select_slider("noise dimension D / m", "gen_nk_factor", [100, 200, 500, 1000], 500)
nk = show.run(NK, {"dim_factor": factor})
if nk is not None:
    show.chart(NK, nk)
st.markdown(
    "**What to notice.** Training error 0 and test error small, but on the mirrored set S′ (x₂ negated, just "
    "as likely a sample) ĥ errs everywhere: any two-sided bound over the algorithm's outputs is ≥ about 1. "
    "The derandomized bound falls like m^-½ and its coupling term is exactly ĥ's test error.")

st.header("3. Extension: ridge and random features")
if w.toggle("show the extension (ridge across λ, random-features regression)", "gen_ext", False):
    ridge = w.select_slider("ridge λ of the random-features fit", "gen_ridge", RIDGES, 0.01)
    rid = show.run("generalization.ridge", {"noise": noise, "tail_exponent": tail, "spike": spike})
    if rid is not None:
        show.chart("generalization.ridge", rid)
    rf = show.run("generalization.random_features", {"ridge": ridge, "noise": noise})
    if rf is not None:
        show.chart("generalization.random_features", rf)
    st.markdown(
        "**What to notice.** Ridge makes the ball bound small only at λ where the risk itself is large; "
        "the surrogate bound tracks the risk across λ. With random features (N = 2000 ReLU features) the "
        "interpolator's norm -- and its ball bound -- grow with n, while the denoising surrogate's bound falls.")
