"""Charts of the NTK experiments: pure functions DataFrame -> alt.Chart (no Streamlit).

Categorical encodings use fixed domains and colours, so a colour means one thing on every setting:
the four kernels keep their colours, the paper's numbers are always black marks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.core.lazy import LazyModule
from engine.phenomena.ntk.paper import PAPER_CONVERGENCE

alt = LazyModule("altair")  # imported when a chart is first built

KERNELS = ("FC-NTK", "FC-NNGP", "CNTK-V", "CNTK-GAP")
KERNEL_COLOURS = ("#4c78a8", "#72b7b2", "#f58518", "#54a24b")  # no red, no black: black = the paper
PAPER_COLOUR = "black"
TRAINED = ("all layers (fix off)", "middle layers (fix on)")
TRAINED_COLOURS = ("#4c78a8", "#f58518")
DIGITS_MEASURES = {
    "agreement": "net-kernel class agreement",
    "net_accuracy": "net accuracy",
    "kernel_accuracy": "kernel accuracy",
}


def _log_x(field: str, values, title: str) -> alt.X:
    """A log x axis that spans the data exactly (no 'nice' rounding out to the next decade)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    return alt.X(f"{field}:Q", title=title, scale=alt.Scale(type="log", domain=[lo, hi], nice=False))


def convergence_chart(frame: pd.DataFrame) -> alt.Chart:
    """Log-log relative error against width: seeds as points, the mean as a line, a 1/sqrt(width)
    reference through the mean at the smallest width, and the paper's values as black diamonds."""
    means = frame.groupby("width", as_index=False).rel_error.mean()
    w0, e0 = float(means.width.iloc[0]), float(means.rel_error.iloc[0])
    hi = max(float(means.width.max()), max(PAPER_CONVERGENCE))
    widths = np.geomspace(w0, hi, 20)
    ref = pd.DataFrame({"width": widths, "rel_error": e0 * np.sqrt(w0 / widths), "what": "1/sqrt(width)"})
    paper = pd.DataFrame(
        {
            "width": list(PAPER_CONVERGENCE),
            "rel_error": list(PAPER_CONVERGENCE.values()),
            "what": "paper (Fig. 1, read off)",
        }
    )
    x = _log_x("width", [w0, hi], "hidden width")
    y = alt.Y("rel_error:Q", scale=alt.Scale(type="log"), title="relative Frobenius error ‖Θ_width − Θ‖/‖Θ‖")
    seeds = (
        alt.Chart(frame)
        .mark_circle(opacity=0.5)
        .encode(
            x,
            y,
            tooltip=[
                "width",
                "seed",
                alt.Tooltip("rel_error:Q", format=".4f"),
                alt.Tooltip("scaled_error:Q", format=".2f"),
            ],
        )
    )
    mean = (
        alt.Chart(means)
        .mark_line(point=True)
        .encode(x, y, tooltip=["width", alt.Tooltip("rel_error:Q", format=".4f")])
    )
    slope = alt.Chart(ref).mark_line(strokeDash=[6, 4], color="gray").encode(x, y, tooltip=["what"])
    marks = (
        alt.Chart(paper)
        .mark_point(shape="diamond", color=PAPER_COLOUR, size=90, filled=True)
        .encode(x, y, tooltip=["what", "width", "rel_error"])
    )
    return (seeds + mean + slope + marks).properties(
        title="Empirical NTK at initialisation vs exact NTK (black: paper)"
    )


def lazy_chart(frame: pd.DataFrame) -> alt.Chart:
    """Log-log relative change of the empirical NTK during training against width."""
    data = frame.dropna(subset=["kernel_change"])
    x = _log_x("width", data.width, "hidden width")
    y = alt.Y("kernel_change:Q", scale=alt.Scale(type="log"), title="‖Θ_trained − Θ_init‖/‖Θ_init‖")
    points = (
        alt.Chart(data)
        .mark_circle(opacity=0.5)
        .encode(x, y, tooltip=["width", "seed", "train_steps", alt.Tooltip("kernel_change:Q", format=".4f")])
    )
    line = alt.Chart(data).mark_line(point=True).encode(x, alt.Y("mean(kernel_change):Q"))
    return (points + line).properties(title="Lazy training: the kernel moves less as width grows")


def heatmap_chart(frame: pd.DataFrame) -> alt.Chart:
    """Side-by-side heatmaps of the kernels over pairs of points on the circle."""
    return (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("i:O", title="point i (angle order)", axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("j:O", title="point j", axis=alt.Axis(labels=False, ticks=False)),
            color=alt.Color("value:Q", title="kernel value", scale=alt.Scale(scheme="viridis")),
            column=alt.Column("kernel:N", title=None, sort=["exact NTK", "empirical NTK", "NNGP"]),
            tooltip=[
                "kernel",
                alt.Tooltip("angle_i:Q", format=".2f"),
                alt.Tooltip("angle_j:Q", format=".2f"),
                alt.Tooltip("value:Q", format=".4f"),
            ],
        )
        .properties(width=220, height=220, usermeta={"keep_aspect": True})  # square kernels stay square
    )


def curve_chart(frame: pd.DataFrame) -> alt.Chart:
    """Predictions over the angle: NTK regression (thick black), trained networks (coloured by
    width), the target (dashed) and the training points."""
    x = alt.X("angle:Q", title="input angle (rad)")
    y = alt.Y("prediction:Q", title="prediction")
    nets = frame[frame.width > 0]
    lines = (
        alt.Chart(nets)
        .mark_line(opacity=0.8)
        .encode(
            x,
            y,
            color=alt.Color("width:O", title="network width", scale=alt.Scale(scheme="blues")),
            tooltip=["model", alt.Tooltip("distance:Q", format=".4f", title="RMS gap to NTK")],
        )
    )
    kernel = (
        alt.Chart(frame[frame.model == "NTK regression"])
        .mark_line(color="black", strokeWidth=3)
        .encode(x, y, tooltip=["model"])
    )
    target = (
        alt.Chart(frame[frame.model == "NTK regression"])
        .mark_line(color="gray", strokeDash=[4, 4])
        .encode(x, alt.Y("target:Q"), tooltip=[alt.Tooltip("target:Q", format=".3f")])
    )
    points = (
        alt.Chart(frame[frame.model == "training data"])
        .mark_point(color="red", size=70, filled=True)
        .encode(x, y, tooltip=["angle", "prediction"])
    )
    return (target + lines + kernel + points).properties(title="Trained networks vs NTK regression (black)")


def curve_distance_chart(frame: pd.DataFrame) -> alt.Chart:
    """Log-log RMS gap between each trained network and the NTK predictor against width."""
    data = frame[frame.width > 0].groupby("width", as_index=False).distance.first()
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=_log_x("width", data.width, "network width"),
            y=alt.Y("distance:Q", scale=alt.Scale(type="log"), title="RMS gap to NTK regression"),
            tooltip=["width", alt.Tooltip("distance:Q", format=".4f")],
        )
        .properties(title="Distance to the kernel predictor shrinks with width")
    )


def digits_chart(frame: pd.DataFrame) -> alt.Chart:
    """Two panels over width: the relative distance of the nets' outputs to the NTK predictor
    (a ratio, log axis) and the fractions in [0, 1] (class agreement, both accuracies)."""
    x = _log_x("width", frame.width, "network width")
    distance = (
        alt.Chart(frame)
        .mark_line(point=True, color="black")
        .encode(
            x,
            alt.Y("rel_distance:Q", scale=alt.Scale(type="log"), title="‖f_net − f_NTK‖ / ‖f_NTK‖ (ratio)"),
            tooltip=["width", alt.Tooltip("rel_distance:Q", format=".3f", title="relative distance")],
        )
        .properties(title="Distance to the NTK predictor", width=260)
    )
    long = frame.melt(id_vars=["width"], value_vars=list(DIGITS_MEASURES), var_name="key", value_name="value")
    long["measure"] = long.key.map(DIGITS_MEASURES)
    fractions = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x,
            alt.Y("value:Q", title="fraction of test digits", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "measure:N",
                title=None,
                scale=alt.Scale(domain=list(DIGITS_MEASURES.values())),
                legend=alt.Legend(orient="bottom", direction="vertical"),
            ),
            tooltip=["width", "measure", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(title="Agreement and accuracy", width=260)
    )
    return alt.hconcat(distance, fractions).properties(
        title="Digits: trained networks approach the NTK predictor"
    )


def classify_chart(frame: pd.DataFrame) -> alt.Chart:
    """Accuracy by kernel and depth (bars in fixed kernel colours); the paper's CIFAR-10 numbers as
    black ticks where they exist (a different data set: read them as a scale, not a target)."""
    colour = alt.Color(
        "kernel:N", title="kernel", scale=alt.Scale(domain=list(KERNELS), range=list(KERNEL_COLOURS))
    )
    offset = alt.XOffset("kernel:N", scale=alt.Scale(domain=list(KERNELS)))
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("depth:O", title="depth (conv layers + 1; FC: hidden layers + 1)"),
            y=alt.Y("accuracy:Q", title="test accuracy", scale=alt.Scale(domain=[0, 1])),
            color=colour,
            xOffset=offset,
            tooltip=[
                "kernel",
                "depth",
                alt.Tooltip("accuracy:Q", format=".3f"),
                alt.Tooltip("paper_accuracy:Q", format=".4f", title="paper (CIFAR-10)"),
                "dataset",
                "n_train",
            ],
        )
    )
    ticks = (
        alt.Chart(frame.dropna(subset=["paper_accuracy"]))
        .mark_tick(color=PAPER_COLOUR, thickness=3, size=18)
        .encode(
            x="depth:O",
            xOffset=offset,
            y="paper_accuracy:Q",
            tooltip=[
                "kernel",
                "depth",
                alt.Tooltip("paper_accuracy:Q", format=".4f", title="paper (CIFAR-10)"),
            ],
        )
    )
    return (bars + ticks).properties(
        title="Kernel regression accuracy (black ticks: the paper's CIFAR-10 numbers)"
    )


def cntk_convergence_chart(frame: pd.DataFrame) -> alt.Chart:
    """Log-log relative error of a finite CNN's empirical NTK against the exact CNTK over channels,
    one colour per trained-layer setting, with a 1/sqrt(channels) reference line."""
    means = frame.groupby(["channels", "trained"], as_index=False).rel_error.mean()
    first = means[means.channels == means.channels.min()].rel_error.mean()
    c = np.geomspace(frame.channels.min(), frame.channels.max(), 20)
    ref = pd.DataFrame({"channels": c, "rel_error": first * np.sqrt(c[0] / c), "what": "1/sqrt(channels)"})
    x = _log_x("channels", frame.channels, "channels of the CNN")
    y = alt.Y(
        "rel_error:Q", scale=alt.Scale(type="log"), title="relative Frobenius error ‖Θ_CNN − CNTK‖/‖CNTK‖"
    )
    colour = alt.Color(
        "trained:N",
        title="trained layers",
        scale=alt.Scale(domain=list(TRAINED), range=list(TRAINED_COLOURS)),
        legend=alt.Legend(orient="bottom", direction="vertical"),
    )
    seeds = (
        alt.Chart(frame)
        .mark_circle(opacity=0.4)
        .encode(
            x, y, colour, tooltip=["channels", "seed", "trained", alt.Tooltip("rel_error:Q", format=".4f")]
        )
    )
    mean = (
        alt.Chart(means)
        .mark_line(point=True)
        .encode(
            x,
            y,
            colour,
            tooltip=["channels", "trained", alt.Tooltip("rel_error:Q", format=".4f", title="mean error")],
        )
    )
    slope = alt.Chart(ref).mark_line(strokeDash=[6, 4], color="gray").encode(x, y, tooltip=["what"])
    return (seeds + mean + slope).properties(
        title="A finite CNN's tangent kernel approaches the exact CNTK", height=360
    )


def fix_ablation_chart(frame: pd.DataFrame) -> alt.Chart:
    """Digits accuracy of CNTK-V and CNTK-GAP with all layers trained vs first and last fixed."""
    colour = alt.Color(
        "trained:N",
        title="trained layers",
        scale=alt.Scale(domain=list(TRAINED), range=list(TRAINED_COLOURS)),
        legend=alt.Legend(orient="bottom", direction="vertical"),
    )
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("depth:O", title="depth (conv layers + 1)"),
            y=alt.Y("accuracy:Q", title="test accuracy", scale=alt.Scale(domain=[0, 1])),
            xOffset=alt.XOffset("trained:N", scale=alt.Scale(domain=list(TRAINED))),
            color=colour,
            column=alt.Column("kernel:N", title=None, sort=["CNTK-V", "CNTK-GAP"]),
            tooltip=[
                "kernel",
                "depth",
                "trained",
                alt.Tooltip("accuracy:Q", format=".3f"),
                "n_train",
                "n_test",
            ],
        )
        .properties(width=180, title="CNTK.py's --fix: first and last layer fixed")
    )


def classify_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The classification frame for display: accuracies in %, a dash where the paper has no number."""
    out = frame[["kernel", "depth", "accuracy", "paper_accuracy", "dataset", "n_train", "n_test"]].copy()
    out["accuracy"] = (100 * out.accuracy).map("{:.1f}".format)
    out["paper_accuracy"] = (100 * out.paper_accuracy).map(
        lambda v: "–" if np.isnan(v) else f"{v:.2f} (CIFAR-10)"
    )
    return out.rename(columns={"accuracy": "ours (%)", "paper_accuracy": "paper (%)"})
