"""Charts of the double-descent experiments: pure ``DataFrame -> alt.Chart`` functions.

Time axes are logarithmic (the paper plots risk against log time); rows that are not finite
(past a divergence) are dropped before drawing.  Every categorical colour has a fixed domain, so
a colour means one thing on every setting, and legends sit below the plot with unclipped labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.core.lazy import LazyModule
from engine.phenomena.double_descent import paper
from engine.phenomena.double_descent.science import SAME, SCALED, spikes

alt = LazyModule("altair")  # imported when a chart is first built

#: Curves of the linear view, in legend order, and their colours.
CURVES = ("risk", "risk (simulated GD)", "bias (fast)", "variance (fast)", "bias (slow)", "variance (slow)")
_CURVE_COLOURS = ("#1f3b73", "#d6338a", "#4c9be8", "#f08a24", "#2a9d8f", "#b23a48")
SCHEDULES = (SAME, SCALED)
_SCHEDULE_COLOURS = ("#d62728", "#1f77b4")
SOURCES = ("closed form", "simulated GD")
#: Network runs the page and the paper presets produce (final-layer step-size factors).
RUNS = ("final layer x1", "final layer x0.01", "final layer x0.1", "final layer x0.5", "final layer x2")
_RUN_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")


def _legend(columns: int = 3) -> alt.Legend:
    return alt.Legend(orient="bottom", columns=columns, labelLimit=0, titleLimit=0)


def _domain(fixed: tuple, present: pd.Series) -> list:
    """The fixed domain, plus any value the frame holds that it lacks (kept, never dropped)."""
    extra = [v for v in pd.unique(present) if v not in fixed]
    return list(fixed) + sorted(str(v) for v in extra)


def _colour(
    field: str, title: str, fixed: tuple, colours: tuple, present: pd.Series, columns: int = 3
) -> alt.Color:
    domain = _domain(fixed, present)
    palette = (
        list(colours) + ["#7f7f7f", "#8c564b", "#e377c2", "#bcbd22"][: max(0, len(domain) - len(colours))]
    )
    return alt.Color(
        f"{field}:N",
        title=title,
        scale=alt.Scale(domain=domain, range=palette[: len(domain)]),
        legend=_legend(columns),
    )


def _finite(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    values = pd.to_numeric(frame[column], errors="coerce")
    return frame[np.isfinite(values)]


def _curve_label(frame: pd.DataFrame) -> pd.Series:
    """'risk', 'risk (simulated GD)', 'bias (fast)', 'variance (slow)', ... per row."""
    label = frame["component"].where(
        frame["group"] == "all", frame["component"] + " (" + frame["group"] + ")"
    )
    return label.where(frame["source"] == "closed form", label + " (simulated GD)")


def linear_layers(frame: pd.DataFrame) -> alt.Chart:
    """Excess risk with its bias and variance per feature group, one panel per step-size schedule."""
    data = _finite(frame[frame["t"] > 0], "value")
    data = data[~((data["group"] == "all") & (data["component"] != "risk"))].assign(curve=_curve_label)
    # Only the drawn columns travel in the spec (a third of the bytes to theme, hash, render and send).
    data = data[["t", "value", "value_se", "curve", "component", "source", "schedule"]]
    lines = (
        alt.Chart()
        .mark_line()
        .encode(
            x=alt.X("t:Q", scale=alt.Scale(type="log"), title="GD step t (log scale)"),
            y=alt.Y("value:Q", title="excess risk R(t) - σ² (squared error)"),
            color=_colour("curve", "curve", CURVES, _CURVE_COLOURS, data["curve"]),
            strokeDash=alt.StrokeDash(
                "source:N", title="source", scale=alt.Scale(domain=list(SOURCES)), legend=_legend(2)
            ),
            size=alt.condition(alt.datum.component == "risk", alt.value(3), alt.value(1.5)),
            tooltip=[
                "schedule:N",
                "curve:N",
                alt.Tooltip("t:Q", format=",.0f"),
                alt.Tooltip("value:Q", format=".4f"),
                alt.Tooltip("value_se:Q", format=".4f"),
            ],
        )
        .properties(width=360)
    )
    return (
        alt.layer(lines, data=data)
        .facet(column=alt.Column("schedule:N", title=None, sort=list(SCHEDULES)))
        .properties(
            title="Epoch-wise double descent as a sum of two bias-variance trade-offs",
            # A slide keeps the closed-form curves (five legend entries); the dots stay in the report.
            usermeta={"talk_keep": {"field": "curve", "values": [c for c in CURVES if "simulated" not in c]}},
        )
    )


def linear_risk_compare(frame: pd.DataFrame) -> alt.Chart:
    """Excess risk of both schedules on one axis (closed form lines, simulated GD points)."""
    data = _finite(frame[(frame["t"] > 0) & (frame["component"] == "risk")], "value")
    data = data[["t", "value", "schedule", "source"]]  # only the drawn columns travel in the spec
    base = alt.Chart(data).encode(
        x=alt.X("t:Q", scale=alt.Scale(type="log"), title="GD step t (log scale)"),
        y=alt.Y("value:Q", title="excess risk (squared error)"),
        color=_colour("schedule", "step sizes", SCHEDULES, _SCHEDULE_COLOURS, data["schedule"]),
        tooltip=[
            "schedule:N",
            "source:N",
            alt.Tooltip("t:Q", format=",.0f"),
            alt.Tooltip("value:Q", format=".4f"),
        ],
    )
    closed = base.transform_filter(alt.datum.source == "closed form").mark_line(strokeWidth=3)
    simulated = base.transform_filter(alt.datum.source == "simulated GD").mark_point(size=20, filled=True)
    return (closed + simulated).properties(
        title="Risk over time: one step size vs. scaled step sizes (lines: closed form, dots: simulated GD)"
    )


def two_layer_risk(frame: pd.DataFrame) -> alt.Chart:
    """L1 test risk over GD steps of both runs, the paper's reported levels as dashed rules, and
    red crosses where a run rose above its starting risk (an instability, see :func:`science.spikes`)."""
    data = _finite(frame[frame["step"] > 0], "l1_risk")
    colour = _colour("schedule", "step sizes", SCHEDULES, _SCHEDULE_COLOURS, data["schedule"], columns=2)
    x = alt.X("step:Q", scale=alt.Scale(type="log", nice=False), title="full-batch GD step (log scale)")
    lines = (
        alt.Chart(data)
        .mark_line(strokeWidth=2.5)
        .encode(
            x=x,
            y=alt.Y("l1_risk:Q", title="test risk  E|f(x) - y|  (L1)"),
            color=colour,
            tooltip=[
                "schedule:N",
                "step:Q",
                alt.Tooltip("l1_risk:Q", format=".3f"),
                alt.Tooltip("train_loss:Q", format=".3g"),
            ],
        )
    )
    ref = pd.DataFrame(paper.TWO_LAYER_REFERENCE, columns=["paper", "l1_risk"])
    rules = (
        alt.Chart(ref)
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(y="l1_risk:Q", tooltip=[alt.Tooltip("paper:N", title="paper Fig. 3"), "l1_risk:Q"])
    )
    layers = [lines, rules]
    start = frame[frame["step"] == 0].groupby("schedule")["l1_risk"].first()
    flagged = [
        g[g["step"].isin(spikes(g["step"].to_numpy(), g["l1_risk"].to_numpy()))]
        for s, g in frame.sort_values("step").groupby("schedule")
        if s in start.index
    ]
    flagged = _finite(pd.concat(flagged), "l1_risk") if flagged else data.iloc[:0]
    if len(flagged):
        layers.append(
            alt.Chart(flagged.assign(note="above the starting risk: unstable step"))
            .mark_point(shape="cross", size=80, color="black", filled=True)
            .encode(
                x="step:Q",
                y="l1_risk:Q",
                tooltip=["schedule:N", "step:Q", alt.Tooltip("l1_risk:Q", format=".1f"), "note:N"],
            )
        )
    crosses = "; crosses: above the starting risk, unstable" if len(flagged) else ""
    return alt.layer(*layers).properties(
        title=f"Two-layer ReLU network: test risk over time (dashed: paper's levels{crosses})"
    )


def network_error(frame: pd.DataFrame) -> alt.Chart:
    """Test error per epoch (faint) and its 9-point smoothing (bold) per run; CIFAR-10: paper points."""
    data = _finite(frame, "test_error")
    runs = (
        pd.concat([data["run"], pd.Series([r[0] for r in paper.CNN_REFERENCE])])
        if len(data) and (data["dataset"] == "cifar10").any()
        else data["run"]
    )
    colour = _colour("run", "step sizes", RUNS, _RUN_COLOURS, runs)
    base = alt.Chart(data).encode(
        x=alt.X("epoch:Q", scale=alt.Scale(type="log"), title="epoch (log scale)"),
        color=colour,
        tooltip=[
            "run:N",
            "epoch:Q",
            alt.Tooltip("test_error:Q", format=".3f"),
            alt.Tooltip("test_error_smooth:Q", format=".3f"),
            alt.Tooltip("train_error:Q", format=".3f"),
        ],
    )
    raw = base.mark_line(opacity=0.3).encode(y=alt.Y("test_error:Q", title="test error (fraction)"))
    smoothed = base.mark_line(strokeWidth=3).encode(y="test_error_smooth:Q")
    layers = [raw, smoothed]
    if len(data) and (data["dataset"] == "cifar10").any():
        ref = pd.DataFrame(paper.CNN_REFERENCE, columns=["run", "paper", "epoch", "test_error"])
        layers.append(
            alt.Chart(ref)
            .mark_point(shape="diamond", size=90, filled=True)
            .encode(
                x="epoch:Q",
                y="test_error:Q",
                color=colour,
                tooltip=["run:N", alt.Tooltip("paper:N", title="paper"), "epoch:Q", "test_error:Q"],
            )
        )
    return alt.layer(*layers).properties(title="Test error over training (bold: 9-epoch average)")


def network_train(frame: pd.DataFrame) -> alt.Chart:
    """Training error on the noisy labels: the bump sits where the net starts fitting the noise."""
    data = _finite(frame, "train_error")
    return (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X("epoch:Q", scale=alt.Scale(type="log"), title="epoch (log scale)"),
            y=alt.Y("train_error:Q", title="training error on noisy labels (fraction)"),
            color=_colour("run", "step sizes", RUNS, _RUN_COLOURS, data["run"]),
            tooltip=["run:N", "epoch:Q", alt.Tooltip("train_error:Q", format=".3f")],
        )
        .properties(title="Fitting the noisy labels")
    )


def width_curve(frame: pd.DataFrame) -> alt.Chart:
    """Test error against width (log), one panel per model; a rule at width = n for random features."""
    data = _finite(frame, "value")
    charts = []
    for model, sub in data.groupby("model", sort=False):
        line = (
            alt.Chart(sub)
            .mark_line(point=True)
            .encode(
                x=alt.X(
                    "width:Q", scale=alt.Scale(type="log"), title="width (features / hidden units, log scale)"
                ),
                y=alt.Y("value:Q", scale=alt.Scale(type="log"), title=str(sub["metric"].iloc[0])),
                tooltip=[
                    "model:N",
                    "width:Q",
                    alt.Tooltip("value:Q", format=".4f"),
                    alt.Tooltip("value_se:Q", format=".4f"),
                ],
            )
            .properties(title=str(model), width=320)
        )
        if (sub["metric"] == "test MSE").any():
            rule = (
                alt.Chart(pd.DataFrame({"width": [int(sub["n"].iloc[0])], "label": ["width = n"]}))
                .mark_rule(color="red", strokeDash=[4, 4])
                .encode(x="width:Q", tooltip=["label:N", "width:Q"])
            )
            line = line + rule
        charts.append(line)
    return alt.hconcat(*charts).properties(
        title="Model-wise double descent: error at the end of training vs width"
    )
