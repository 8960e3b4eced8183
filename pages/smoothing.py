"""Randomized smoothing (Cohen, Rosenfeld, Kolter, ICML 2019): widgets -> engine.smoothing -> charts."""

from __future__ import annotations

import streamlit as st

import engine
import ui.widgets as w
from engine.core.params import options
from engine.phenomena.smoothing import experiments as sm
from engine.phenomena.smoothing.charts import paper_curves_chart
from engine.phenomena.smoothing.experiments import LinearConfig
from engine.phenomena.smoothing.models import paper_data_message
from engine.phenomena.smoothing.science import max_certifiable_radius
from ui import show
from ui.sidebar import scale

st.title("Certified robustness by randomized smoothing")
st.caption("Cohen, Rosenfeld, Kolter: Certified Adversarial Robustness via Randomized Smoothing (ICML 2019)")
st.markdown(
    "Add Gaussian noise to the input of **any** classifier *f* and take a vote: the resulting smoothed "
    "classifier *g* provably keeps its answer inside an L2 ball whose radius we can certify from samples."
)
st.latex(
    r"g(x) = \arg\max_c \; P\big(f(x + \varepsilon) = c\big), \qquad \varepsilon \sim \mathcal{N}(0, \sigma^2 I)"
)
st.latex(
    r"\underline{p_A} > \tfrac12 \;\Rightarrow\; g(x + \delta) = c_A \;\text{ for all }\; "
    r"\|\delta\|_2 < R = \sigma\, \Phi^{-1}(\underline{p_A})"
)
st.markdown(
    "`certify`: *n0* noisy samples pick the top class $c_A$, *n* fresh samples count it, and "
    "$\\underline{p_A}$ is the one-sided $(1-\\alpha)$ Clopper-Pearson bound; it abstains if "
    "$\\underline{p_A} < 1/2$. The certificate is wrong with probability at most $\\alpha$."
)

cols = st.columns(4)
with cols[0]:
    sigma = w.select_slider("sigma (noise, input units)", "sm_sigma", sm.PAGE_SIGMAS, 0.25)
with cols[1]:
    n = w.select_slider("n (samples counting pA)", "sm_n", sm.PAGE_N, 10_000)
with cols[2]:
    alpha = w.select_slider("alpha (failure probability)", "sm_alpha", sm.PAGE_ALPHA, 0.001)
with cols[3]:
    n0 = w.select_slider("n0 (samples choosing the class)", "sm_n0", sm.PAGE_N0, 100)
cap = max_certifiable_radius(sigma, n, alpha)
st.latex(
    rf"R_{{\max}} = \sigma\,\Phi^{{-1}}\big(\alpha^{{1/n}}\big) = {sigma:g} \times "
    rf"{cap / sigma:.2f} = {cap:.3f}"
)
st.caption("Even if all n samples agree, no larger radius can be certified: more samples, larger cap.")

st.header("1. A 2-D toy: smoothing erases the islands")
toy = show.run("smoothing.toy", {"sigma": sigma, "n": n, "alpha": alpha, "n0": n0})
if toy is not None:
    show.chart("smoothing.toy", toy)
st.markdown(
    "**What to notice.** The over-fitted base network has thin islands; the smoothed classifier "
    "(left: f, right: g) forgets anything narrower than about sigma. Each circle is a certified ball: "
    "points far from the boundary get large circles, points near it get small ones or abstain "
    "(triangles, at every sigma). Move sigma: the boundary straightens, the circles grow until they hit "
    "the cap $R_{\\max}$, and points of the other moon start being misclassified."
)


@st.fragment
def certified_accuracy_section(n: int, alpha: float, n0: int) -> None:
    """Section 2: the digits curves wait for a button (seconds, not a first view); the paper's
    curves and table show at once. The toggle reruns only this section."""
    train_noise = w.toggle(
        "Train the base classifier with noise at the sigma it is certified at", "sm_train_noise", True
    )
    st.caption(
        "Quick scale: 8x8 digits (pixels in [0, 1]), a 64-64 MLP trained per sigma, every 5th test image "
        "(100 points), n from the slider; the button says how long training and certifying take. "
        "Paper scale: CIFAR-10, ResNet-110, n = 100,000, every 20th test image."
    )
    left, right = st.columns(2)
    with right:
        st.altair_chart(paper_curves_chart(), width="stretch")
    with left:
        certified = show.run_on_demand(
            "smoothing.certify",
            {"n": n, "alpha": alpha, "n0": n0, "train_noise": train_noise},
            key="sm_certify",
        )
        if certified is not None:
            show.chart("smoothing.certify", certified, "curves")
    if scale() == "paper" and not engine.is_cached("smoothing.certify", None, preset="paper"):
        missing = paper_data_message()
        if missing:
            st.warning(f"CIFAR-10 is not available here: {missing}")
    st.markdown(
        "**What to notice.** Certified accuracy at radius r is the fraction of test points classified "
        "correctly with a certified radius of at least r; abstentions count as wrong. A small sigma wins "
        "at small radii but cannot certify beyond its cap (dashed); a large sigma reaches further but costs "
        "clean accuracy. Switch off noise training: smoothing a classifier that never saw noise fails."
    )
    st.subheader("The paper's CIFAR-10 table beside ours")
    st.dataframe(sm.paper_vs_ours(certified), hide_index=True)


@st.fragment
def linear_section() -> None:
    """Section 3 (under a second): the radio reruns only this section."""
    base = w.radio(
        "base classifier", "sm_linear_base", options(LinearConfig, "base"), "halfspace", horizontal=True
    )
    linear = show.run("smoothing.linear", {"base": base})
    if linear is not None:
        left, right = st.columns(2)
        with left:
            show.chart("smoothing.linear", linear, "radii")
        with right:
            show.chart("smoothing.linear", linear, "gap")
    st.markdown(
        "**What to notice.** For f(x) = 1[w.x + b > 0], g = f and $\\sigma\\Phi^{-1}(p_A) = |w\\cdot x + b| / "
        "\\|w\\|$, the true distance to the boundary (the paper's tightness result): as n grows the certificates "
        "climb onto the diagonal, up to each n's cap. A *quadrant* (f = 1 where x1 > 0 and x2 > 0) bends g's "
        "boundary: the certificate stays below the true radius at any n. 16 points in 10-D, sigma = 0.5 (fixed)."
    )


@st.fragment
def grid_section() -> None:
    """Section 4: five trainings and 20 certifications wait for a button."""
    grid = show.run_on_demand("smoothing.grid", key="sm_grid")
    if grid is not None:
        show.chart("smoothing.grid", grid)
    st.markdown(
        "**What to notice.** Each cell: the average certified radius (wrong or abstained count 0) of a base "
        "trained at the row's sigma (0 = clean), certified at the column's. Matched cells (outlined) beat clean "
        "training, most at sigma = 0.5. Quick scale: digits, 50 images, n = 1,000 (the paper: CIFAR-10)."
    )


@st.fragment
def attack_section(sigma: float, n: int, alpha: float, n0: int) -> None:
    """Section 5: PGD on f and on g waits for a button."""
    attacked = show.run_on_demand(
        "smoothing.attack", {"sigma": sigma, "n": n, "alpha": alpha, "n0": n0}, key="sm_attack"
    )
    if attacked is not None:
        show.chart("smoothing.attack", attacked)
        st.markdown(
            "**What to notice.** Each dot is a test image: its certified radius (x) against the smallest "
            "PGD radius that flipped the prediction (y). The smoothed classifier's dots stay above the "
            "diagonal: the certificate is a lower bound, and the gap shows how loose it is. The attack "
            "on g uses the noise-averaged softmax (Salman et al. 2019) and checks g by a vote of noisy samples; "
            "triangles at the top: no adversarial input found up to radius 4."
        )


st.header("2. Certified accuracy against radius")
certified_accuracy_section(n, alpha, n0)

st.header("3. The certificate is exact for a linear classifier")
linear_section()

st.header("4. Which noise to train with")
grid_section()

st.header("5. Extension: an empirical attack")
st.markdown(
    "An L2 PGD attack on the base classifier f and on the smoothed g (sigma from the slider, 40 digits): "
    "how far is the nearest adversarial input that the attack finds, compared with the certified radius?"
)
attack_section(sigma, n, alpha, n0)
