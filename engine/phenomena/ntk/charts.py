"""Charts of the NTK experiments: pure functions DataFrame -> alt.Chart (no Streamlit)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from engine.phenomena.ntk.experiments import PAPER_CIFAR, PAPER_CONVERGENCE


def convergence_chart(frame: pd.DataFrame) -> alt.Chart:
    """Log-log relative error against width: seeds as points, the mean as a line, a 1/sqrt(width)
    reference through the mean at the smallest width, and the paper's values as red diamonds."""
    means = frame.groupby("width", as_index=False).rel_error.mean()
    w0, e0 = float(means.width.iloc[0]), float(means.rel_error.iloc[0])
    widths = np.geomspace(means.width.min(), max(means.width.max(), 4096), 20)
    ref = pd.DataFrame({"width": widths, "rel_error": e0 * np.sqrt(w0 / widths), "what": "1/sqrt(width)"})
    paper = pd.DataFrame({"width": list(PAPER_CONVERGENCE), "rel_error": list(PAPER_CONVERGENCE.values()),
                          "what": "paper (Fig. 1, read off)"})
    x = alt.X("width:Q", scale=alt.Scale(type="log"), title="hidden width")
    y = alt.Y("rel_error:Q", scale=alt.Scale(type="log"), title="relative Frobenius error ‖Θ_width − Θ‖/‖Θ‖")
    seeds = alt.Chart(frame).mark_circle(opacity=0.5).encode(
        x, y, tooltip=["width", "seed", alt.Tooltip("rel_error:Q", format=".4f"), alt.Tooltip("scaled_error:Q", format=".2f")])
    mean = alt.Chart(means).mark_line(point=True).encode(x, y, tooltip=["width", alt.Tooltip("rel_error:Q", format=".4f")])
    slope = alt.Chart(ref).mark_line(strokeDash=[6, 4], color="gray").encode(x, y, tooltip=["what"])
    marks = alt.Chart(paper).mark_point(shape="diamond", color="red", size=90, filled=True).encode(
        x, y, tooltip=["what", "width", "rel_error"])
    return (seeds + mean + slope + marks).properties(title="Empirical NTK at initialisation vs exact NTK")


def lazy_chart(frame: pd.DataFrame) -> alt.Chart:
    """Log-log relative change of the empirical NTK during training against width."""
    data = frame.dropna(subset=["kernel_change"])
    x = alt.X("width:Q", scale=alt.Scale(type="log"), title="hidden width")
    y = alt.Y("kernel_change:Q", scale=alt.Scale(type="log"), title="‖Θ_trained − Θ_init‖/‖Θ_init‖")
    points = alt.Chart(data).mark_circle(opacity=0.5).encode(
        x, y, tooltip=["width", "seed", "train_steps", alt.Tooltip("kernel_change:Q", format=".4f")])
    line = alt.Chart(data).mark_line(point=True).encode(x, alt.Y("mean(kernel_change):Q"))
    return (points + line).properties(title="Lazy training: the kernel moves less as width grows")


def heatmap_chart(frame: pd.DataFrame) -> alt.Chart:
    """Side-by-side heatmaps of the kernels over pairs of points on the circle."""
    return alt.Chart(frame).mark_rect().encode(
        x=alt.X("i:O", title="point i (angle order)", axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("j:O", title="point j", axis=alt.Axis(labels=False, ticks=False)),
        color=alt.Color("value:Q", title="kernel value", scale=alt.Scale(scheme="viridis")),
        column=alt.Column("kernel:N", title=None, sort=["exact NTK", "empirical NTK", "NNGP"]),
        tooltip=["kernel", alt.Tooltip("angle_i:Q", format=".2f"), alt.Tooltip("angle_j:Q", format=".2f"),
                 alt.Tooltip("value:Q", format=".4f")],
    ).properties(width=220, height=220)


def curve_chart(frame: pd.DataFrame) -> alt.Chart:
    """Predictions over the angle: NTK regression (thick black), trained networks (coloured by
    width), the target (dashed) and the training points."""
    x = alt.X("angle:Q", title="input angle (rad)")
    y = alt.Y("prediction:Q", title="prediction")
    nets = frame[frame.width > 0]
    lines = alt.Chart(nets).mark_line(opacity=0.8).encode(
        x, y, color=alt.Color("width:O", title="network width", scale=alt.Scale(scheme="blues")),
        tooltip=["model", alt.Tooltip("distance:Q", format=".4f", title="RMS gap to NTK")])
    kernel = alt.Chart(frame[frame.model == "NTK regression"]).mark_line(color="black", strokeWidth=3).encode(
        x, y, tooltip=["model"])
    target = alt.Chart(frame[frame.model == "NTK regression"]).mark_line(color="gray", strokeDash=[4, 4]).encode(
        x, alt.Y("target:Q"), tooltip=[alt.Tooltip("target:Q", format=".3f")])
    points = alt.Chart(frame[frame.model == "training data"]).mark_point(color="red", size=70, filled=True).encode(
        x, y, tooltip=["angle", "prediction"])
    return (target + lines + kernel + points).properties(title="Trained networks vs NTK regression (black)")


def curve_distance_chart(frame: pd.DataFrame) -> alt.Chart:
    """Log-log RMS gap between each trained network and the NTK predictor against width."""
    data = frame[frame.width > 0].groupby("width", as_index=False).distance.first()
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("width:Q", scale=alt.Scale(type="log"), title="network width"),
        y=alt.Y("distance:Q", scale=alt.Scale(type="log"), title="RMS gap to NTK regression"),
        tooltip=["width", alt.Tooltip("distance:Q", format=".4f")],
    ).properties(title="Distance to the kernel predictor shrinks with width")


def digits_chart(frame: pd.DataFrame) -> alt.Chart:
    """Relative distance and class agreement between trained networks and the NTK predictor."""
    long = frame.melt(id_vars=["width"], value_vars=["rel_distance", "agreement", "net_accuracy", "kernel_accuracy"],
                      var_name="measure", value_name="value")
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("width:Q", scale=alt.Scale(type="log"), title="network width"),
        y=alt.Y("value:Q", title="value (fraction)"),
        color=alt.Color("measure:N", title="measure"),
        tooltip=["width", "measure", alt.Tooltip("value:Q", format=".3f")],
    ).properties(title="Digits: trained networks approach the NTK predictor")


def classify_chart(frame: pd.DataFrame) -> alt.Chart:
    """Accuracy by kernel and depth (bars), the paper's CIFAR-10 numbers as red ticks where they exist."""
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("depth:O", title="depth (conv layers + 1; FC: hidden layers + 1)"),
        y=alt.Y("accuracy:Q", title="test accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("kernel:N", title="kernel"), xOffset="kernel:N",
        tooltip=["kernel", "depth", alt.Tooltip("accuracy:Q", format=".3f"),
                 alt.Tooltip("paper_accuracy:Q", format=".4f", title="paper (CIFAR-10)"), "dataset", "n_train"])
    ticks = alt.Chart(frame.dropna(subset=["paper_accuracy"])).mark_tick(color="red", thickness=3, size=18).encode(
        x="depth:O", xOffset="kernel:N", y="paper_accuracy:Q",
        tooltip=["kernel", "depth", alt.Tooltip("paper_accuracy:Q", format=".4f", title="paper (CIFAR-10)")])
    return (bars + ticks).properties(title="Kernel regression accuracy (red: the paper's CIFAR-10 numbers)")


def paper_table() -> pd.DataFrame:
    """The paper's CIFAR-10 table (accuracy %, by method and depth) as a frame for display."""
    return pd.DataFrame(PAPER_CIFAR).T.rename_axis("method").rename(columns=lambda d: f"depth {d}")
