"""Charts of the double-descent experiments: pure ``DataFrame -> alt.Chart`` functions.

Time axes are logarithmic (the paper plots risk against log time); rows that are not finite
(past a divergence) are dropped before drawing.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

#: The paper's CIFAR-10 reference points (run, what, epoch, test error), drawn on CIFAR-10 frames.
_CNN_REFERENCE = (
    ("final layer x1", "early minimum", 30, 0.199),
    ("final layer x1", "peak", 170, 0.295),
    ("final layer x1", "final", 4000, 0.263),
    ("final layer x0.01", "minimum, no second descent", 64, 0.159),
    ("final layer x0.01", "later", 4000, 0.244),
    ("final layer x2", "early minimum", 25, 0.222),
    ("final layer x2", "peak", 212, 0.310),
    ("final layer x2", "final", 4000, 0.278),
)
_TWO_LAYER_REFERENCE = (("early minimum", 6.4), ("peak", 9.9), ("final", 6.06), ("scaled: final", 5.74))


def _finite(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    values = pd.to_numeric(frame[column], errors="coerce")
    return frame[np.isfinite(values)]


def _curve_label(frame: pd.DataFrame) -> pd.Series:
    """'risk', 'risk (simulated GD)', 'bias (fast)', 'variance (slow)', ... per row."""
    label = frame["component"].where(frame["group"] == "all", frame["component"] + " (" + frame["group"] + ")")
    return label.where(frame["source"] == "closed form", label + " (simulated GD)")


def linear_layers(frame: pd.DataFrame) -> alt.Chart:
    """Excess risk with its bias and variance per feature group, one panel per step-size schedule."""
    data = _finite(frame[frame["t"] > 0], "value")
    data = data[~((data["group"] == "all") & (data["component"] != "risk"))].assign(curve=_curve_label)
    lines = (
        alt.Chart()
        .mark_line()
        .encode(
            x=alt.X("t:Q", scale=alt.Scale(type="log"), title="GD step t (log scale)"),
            y=alt.Y("value:Q", title="excess risk R(t) - noise² (squared error)"),
            color=alt.Color("curve:N", title="curve"),
            strokeDash=alt.StrokeDash("source:N", title="source"),
            size=alt.condition(alt.datum.component == "risk", alt.value(3), alt.value(1.5)),
            tooltip=["schedule:N", "curve:N", alt.Tooltip("t:Q", format=",.0f"),
                     alt.Tooltip("value:Q", format=".4f"), alt.Tooltip("value_se:Q", format=".4f")],
        )
    )
    return alt.layer(lines, data=data).facet(column=alt.Column("schedule:N", title=None)).properties(
        title="Epoch-wise double descent as a sum of two bias-variance trade-offs"
    )


def linear_risk_compare(frame: pd.DataFrame) -> alt.Chart:
    """Excess risk of both schedules on one axis (closed form lines, simulated GD points)."""
    data = _finite(frame[(frame["t"] > 0) & (frame["component"] == "risk")], "value")
    base = alt.Chart(data).encode(
        x=alt.X("t:Q", scale=alt.Scale(type="log"), title="GD step t (log scale)"),
        y=alt.Y("value:Q", title="excess risk (squared error)"),
        color=alt.Color("schedule:N", title="step sizes"),
        tooltip=["schedule:N", "source:N", alt.Tooltip("t:Q", format=",.0f"), alt.Tooltip("value:Q", format=".4f")],
    )
    closed = base.transform_filter(alt.datum.source == "closed form").mark_line(strokeWidth=3)
    simulated = base.transform_filter(alt.datum.source == "simulated GD").mark_point(size=20, filled=True)
    return (closed + simulated).properties(title="Risk over time: one step size vs. scaled step sizes")


def two_layer_risk(frame: pd.DataFrame) -> alt.Chart:
    """L1 test risk over GD steps of both runs, with the paper's reported levels as rules."""
    data = _finite(frame[frame["step"] > 0], "l1_risk")
    lines = alt.Chart(data).mark_line(strokeWidth=2.5).encode(
        x=alt.X("step:Q", scale=alt.Scale(type="log"), title="full-batch GD step (log scale)"),
        y=alt.Y("l1_risk:Q", title="test risk  E|f(x) - y|  (L1)"),
        color=alt.Color("schedule:N", title="step sizes"),
        tooltip=["schedule:N", "step:Q", alt.Tooltip("l1_risk:Q", format=".3f"), alt.Tooltip("train_loss:Q", format=".3g")],
    )
    ref = pd.DataFrame(_TWO_LAYER_REFERENCE, columns=["paper", "l1_risk"])
    rules = alt.Chart(ref).mark_rule(strokeDash=[4, 4], color="gray").encode(
        y="l1_risk:Q", tooltip=[alt.Tooltip("paper:N", title="paper Fig. 3"), "l1_risk:Q"]
    )
    return (lines + rules).properties(title="Two-layer ReLU network: test risk over time (dashed: paper's levels)")


def network_error(frame: pd.DataFrame) -> alt.Chart:
    """Test error per epoch (faint) and its 9-point smoothing (bold) per run; CIFAR-10: paper points."""
    data = _finite(frame, "test_error")
    base = alt.Chart(data).encode(
        x=alt.X("epoch:Q", scale=alt.Scale(type="log"), title="epoch (log scale)"),
        color=alt.Color("run:N", title="step sizes"),
        tooltip=["run:N", "epoch:Q", alt.Tooltip("test_error:Q", format=".3f"),
                 alt.Tooltip("test_error_smooth:Q", format=".3f"), alt.Tooltip("train_error:Q", format=".3f")],
    )
    raw = base.mark_line(opacity=0.3).encode(y=alt.Y("test_error:Q", title="test error (fraction)"))
    smoothed = base.mark_line(strokeWidth=3).encode(y="test_error_smooth:Q")
    layers = [raw, smoothed]
    if len(data) and (data["dataset"] == "cifar10").any():
        ref = pd.DataFrame(_CNN_REFERENCE, columns=["run", "paper", "epoch", "test_error"])
        layers.append(alt.Chart(ref).mark_point(shape="diamond", size=90, filled=True).encode(
            x="epoch:Q", y="test_error:Q", color="run:N",
            tooltip=["run:N", alt.Tooltip("paper:N", title="paper"), "epoch:Q", "test_error:Q"],
        ))
    return alt.layer(*layers).properties(title="Test error over training (bold: 9-epoch average)")


def network_train(frame: pd.DataFrame) -> alt.Chart:
    """Training error on the noisy labels: the bump sits where the net starts fitting the noise."""
    data = _finite(frame, "train_error")
    return alt.Chart(data).mark_line().encode(
        x=alt.X("epoch:Q", scale=alt.Scale(type="log"), title="epoch (log scale)"),
        y=alt.Y("train_error:Q", title="training error on noisy labels (fraction)"),
        color=alt.Color("run:N", title="step sizes"),
        tooltip=["run:N", "epoch:Q", alt.Tooltip("train_error:Q", format=".3f")],
    ).properties(title="Fitting the noisy labels")


def width_curve(frame: pd.DataFrame) -> alt.Chart:
    """Test error against width (log), one panel per model; a rule at width = n for random features."""
    data = _finite(frame, "value")
    charts = []
    for model, sub in data.groupby("model", sort=False):
        line = alt.Chart(sub).mark_line(point=True).encode(
            x=alt.X("width:Q", scale=alt.Scale(type="log"), title="width (features / base channels, log scale)"),
            y=alt.Y("value:Q", scale=alt.Scale(type="log"), title=str(sub["metric"].iloc[0])),
            tooltip=["model:N", "width:Q", alt.Tooltip("value:Q", format=".4f"), alt.Tooltip("value_se:Q", format=".4f")],
        ).properties(title=str(model), width=320)
        if (sub["metric"] == "test MSE").any():
            rule = alt.Chart(pd.DataFrame({"width": [int(sub["n"].iloc[0])], "label": ["width = n"]})).mark_rule(
                color="red", strokeDash=[4, 4]).encode(x="width:Q", tooltip=["label:N", "width:Q"])
            line = line + rule
        charts.append(line)
    return alt.hconcat(*charts).properties(title="Model-wise double descent: error at the end of training vs width")
