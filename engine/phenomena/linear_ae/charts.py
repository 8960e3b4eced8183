"""Charts of the linear-autoencoder experiments: pure functions DataFrame -> alt.Chart.

Every chart keeps one meaning per mark on every setting: the variants' colours and dashes have
fixed domains, non-finite values (a diverged variant) are filtered out before Vega sees them,
axes get explicit domains from the finite data, and a diverged variant is named in the chart
instead of being drawn as an empty or pale panel.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from engine.core.lazy import LazyModule
from engine.phenomena.linear_ae.science import ALL_VARIANTS
from engine.phenomena.linear_ae.science import VARIANTS as VARIANT_ORDER

alt = LazyModule("altair")  # imported when a chart is first built

#: What the page and the legend call each variant: "RAG" is RAG alone (no penalty), as the reference.
VARIANT_NAMES = {
    "uniform": "uniform L2",
    "non_uniform": "non-uniform L2",
    "rotation": "RAG",
    "non_uniform+rotation": "non-uniform L2 + RAG",
    "nested_dropout": "nested dropout",
}
VARIANT_COLORS = ("#4c78a8", "#f58518", "#e45756", "#54a24b", "#b279a2")  # in ALL_VARIANTS order
_NAMES = [VARIANT_NAMES[v] for v in VARIANT_ORDER]


def _color_of(variants) -> alt.Color:
    """The colour encoding of a fixed set of variants; a variant has one colour in every chart."""
    colors = dict(zip(ALL_VARIANTS, VARIANT_COLORS))
    return alt.Color(
        "name:N",
        title="Variant",
        scale=alt.Scale(domain=[VARIANT_NAMES[v] for v in variants], range=[colors[v] for v in variants]),
        legend=alt.Legend(orient="bottom", columns=2, labelLimit=0),
    )


def _named(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(name=frame["variant"].map(VARIANT_NAMES).fillna(frame["variant"]))


def _finite(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows of live variants whose ``column`` is finite."""
    keep = np.isfinite(pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float))
    if "diverged" in frame:
        keep &= ~frame["diverged"].to_numpy(dtype=bool)
    return frame[keep]


def _domain(values: pd.Series, log: bool) -> list[float]:
    """An explicit [low, high] that Vega cannot turn into NaN, for non-empty finite values."""
    low, high = float(values.min()), float(values.max())
    if log:
        low, high = 10 ** math.floor(math.log10(low)), 10 ** math.ceil(math.log10(high))
        return [low, high if high > low else low * 10]
    low = min(low, 0.0)
    return [low, high if high > low else low + 1.0]


def _note(text: str, height: int = 320) -> alt.Chart:
    """A chart that only says ``text`` (for runs with nothing finite to draw)."""
    data = pd.DataFrame({"text": [text]})
    return alt.Chart(data).mark_text(size=16, color="#b00020").encode(text="text:N").properties(height=height)


def diverged_variants(frame: pd.DataFrame) -> list[str]:
    """Display names of the variants flagged as diverged in a result frame, in the fixed order."""
    if "diverged" not in frame:
        return []
    flagged = set(frame.loc[frame["diverged"].astype(bool), "variant"])
    return [VARIANT_NAMES[v] for v in ALL_VARIANTS if v in flagged]


def _over_steps(
    frame: pd.DataFrame, column: str, title: str, log_y: bool, color: alt.Color | None = None
) -> alt.Chart:
    color = _color_of(VARIANT_ORDER) if color is None else color
    data = _named(_finite(frame, column))
    if data.empty:
        return _note("Every variant diverged: nothing finite to draw. Lower the learning rate.")
    # Both distances are >= 0; rounding leaves -1e-16 at the optimum, and a log axis cannot show 0.
    data = data.assign(**{column: data[column].clip(lower=1e-16 if log_y else None)})
    data = data[["variant", "name", "step", column]]  # only the drawn columns travel in the spec
    gone = diverged_variants(frame)
    scale = alt.Scale(type="log" if log_y else "linear", domain=_domain(data[column], log_y))
    chart = (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X(
                "step:Q",
                title="Iteration (full-batch steps)",
                scale=alt.Scale(domain=[0, max(int(frame["step"].max()), 1)]),
            ),
            y=alt.Y(f"{column}:Q", title=title, scale=scale),
            color=color,
            tooltip=["name:N", "step:Q", alt.Tooltip(f"{column}:Q", format=".3e")],
        )
        .properties(height=320)
    )
    return chart.properties(title=f"Diverged (not drawn): {', '.join(gone)}") if gone else chart


def alignment_chart(frame: pd.DataFrame) -> alt.Chart:
    """Axis alignment mean_i(1 - max_j cos^2) against iteration, one line per variant (order-blind)."""
    return _over_steps(frame, "axis_alignment", "Axis alignment (0 = principal axes, any order)", log_y=False)


def distance_chart(frame: pd.DataFrame) -> alt.Chart:
    """Ordered distance |W2 - W2*|/|W2*| to each variant's global minimum against iteration, log scale."""
    return _over_steps(frame, "minimum_distance", "Distance to the ordered minimum (log)", log_y=True)


def subspace_chart(frame: pd.DataFrame) -> alt.Chart:
    """Subspace distance 1 - tr(U U^T P)/k against iteration, log scale."""
    return _over_steps(frame, "subspace_distance", "Subspace distance (log)", log_y=True)


def loss_chart(frame: pd.DataFrame) -> alt.Chart:
    """Regularized loss against iteration."""
    return _over_steps(frame, "loss", "Regularized loss", log_y=False)


NESTED_VARIANTS = ("non_uniform", "rotation", "nested_dropout")  # what linear_ae.nested trains


def nested_distance_chart(frame: pd.DataFrame) -> alt.Chart:
    """linear_ae.nested: ordered distance to each variant's minimum (nested dropout's: the ordered
    principal axes, unit columns) against iteration, log scale."""
    title = "Distance to the ordered minimum (log)"
    return _over_steps(frame, "minimum_distance", title, log_y=True, color=_color_of(NESTED_VARIANTS))


def nested_alignment_chart(frame: pd.DataFrame) -> alt.Chart:
    """linear_ae.nested: axis alignment (order-blind) against iteration."""
    title = "Axis alignment (0 = principal axes, any order)"
    return _over_steps(frame, "axis_alignment", title, log_y=False, color=_color_of(NESTED_VARIANTS))


_METRICS = {
    "axis_alignment": "axis alignment (order-blind)",
    "minimum_distance": "distance to the ordered minimum",
}


_FLOOR = 1e-4  # the saddle chart draws smaller values at this floor (RAG's lines reach 1e-16)


def saddle_chart(frame: pd.DataFrame) -> alt.Chart:
    """Axis alignment (solid) and ordered distance (dashed) of each variant on one log axis,
    values below 1e-4 drawn at 1e-4."""
    long = _named(frame).melt(
        id_vars=["name", "step", "diverged"], value_vars=list(_METRICS), var_name="metric", value_name="value"
    )
    long = _finite(long, "value").assign(
        metric=lambda f: f["metric"].map(_METRICS), value=lambda f: f["value"].clip(lower=_FLOOR)
    )
    if long.empty:
        return _note("The run diverged: nothing finite to draw. Lower the learning rate.")
    return (
        alt.Chart(long)
        .mark_line()
        .encode(
            x=alt.X("step:Q", title="Iteration (full-batch steps)"),
            y=alt.Y(
                "value:Q",
                title="Value (log; below 1e-4 drawn at 1e-4)",
                scale=alt.Scale(type="log", domain=_domain(long["value"], True)),
            ),
            color=_color_of(VARIANT_ORDER),
            strokeDash=alt.StrokeDash(
                "metric:N",
                title="Measure",
                scale=alt.Scale(domain=list(_METRICS.values()), range=[[1, 0], [6, 3]]),
                legend=alt.Legend(orient="bottom", labelLimit=0),
            ),
            tooltip=["name:N", "metric:N", "step:Q", alt.Tooltip("value:Q", format=".3e")],
        )
        .properties(height=320)
    )


def cosine_heatmap(frame: pd.DataFrame) -> alt.Chart:
    """|cos| of each decoder column (x) against each eigenvector (y), one panel per variant;
    a diverged variant's panel says so instead of drawing cells."""
    data = _named(frame).assign(abs_cos=lambda f: f["abs_cos"].where(np.isfinite(f["abs_cos"])))
    k = int(data["latent"].max())
    base = alt.Chart().encode(
        x=alt.X("latent:O", title="Decoder column j", scale=alt.Scale(domain=list(range(1, k + 1)))),
        y=alt.Y(
            "eigenvector:O",
            title="Eigenvector i (by eigenvalue)",
            scale=alt.Scale(domain=list(range(1, k + 1))),
        ),
    )
    cells = (
        base.mark_rect()
        .encode(
            color=alt.Color("abs_cos:Q", title="|cos|", scale=alt.Scale(domain=[0, 1], scheme="blues")),
            tooltip=["name:N", "eigenvector:O", "latent:O", alt.Tooltip("abs_cos:Q", format=".3f"), "step:Q"],
        )
        .transform_filter("!datum.diverged && isValid(datum.abs_cos)")
    )
    middle = (k + 1) // 2
    note = (
        base.mark_text(size=14, color="#b00020", fontWeight="bold")
        .encode(text=alt.value("diverged"))
        .transform_filter(f"datum.diverged && datum.latent == {middle} && datum.eigenvector == {middle}")
    )
    return (
        alt.layer(cells, note, data=data)
        .properties(width=150, height=150)
        .facet(column=alt.Column("name:N", sort=_NAMES, title=None))
        .properties(usermeta={"keep_aspect": True})  # k x k cells stay square
    )


def scaling_chart(frame: pd.DataFrame) -> alt.Chart:
    """Steps to reach the threshold against k, log-log; a triangle did not reach it in the budget."""
    data = _named(_finite(frame, "steps")).assign(
        outcome=lambda f: np.where(f["reached"].astype(bool), "reached", "not reached (budget)")
    )
    if data.empty:
        return _note("Every run diverged: nothing to draw.")
    threshold = float(frame["threshold"].iloc[0])
    return (
        alt.Chart(data)
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=70))
        .encode(
            x=alt.X(
                "k:Q",
                title="Latent dimension k (log)",
                scale=alt.Scale(type="log", domain=_domain(data["k"], True)),
            ),
            y=alt.Y(
                "steps:Q",
                title=f"Steps to axis alignment < {threshold:g} (log)",
                scale=alt.Scale(type="log", domain=_domain(data["steps"], True)),
            ),
            color=_color_of(VARIANT_ORDER),
            shape=alt.Shape(
                "outcome:N",
                title="Outcome",
                scale=alt.Scale(
                    domain=["reached", "not reached (budget)"], range=["circle", "triangle-down"]
                ),
                legend=alt.Legend(orient="bottom", labelLimit=0),
            ),
            tooltip=[
                "name:N",
                "k:Q",
                "steps:Q",
                "outcome:N",
                alt.Tooltip("final_alignment:Q", format=".3e"),
                alt.Tooltip("final_distance:Q", format=".3e"),
                "collapsed:Q",
            ],
        )
        .properties(height=320)
    )


def decoder_images(frame: pd.DataFrame) -> alt.Chart:
    """Each decoder column as a small image (rows x cols pixels), one panel per latent."""
    data = _finite(frame, "value")
    if data.empty:
        return _note(
            f"Training of {VARIANT_NAMES.get(frame['variant'].iloc[0], 'this variant')} diverged: "
            "no decoder to draw. Lower the learning rate.",
            height=120,
        )
    side = int(frame["row"].max()) + 1
    reach = float(data["value"].abs().max()) or 1.0
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("col:O", axis=None),
            y=alt.Y("row:O", axis=None),
            color=alt.Color(
                "value:Q", title="Weight", scale=alt.Scale(scheme="redblue", domain=[-reach, reach])
            ),
            tooltip=["latent:O", "row:O", "col:O", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(width=max(60, 4 * side), height=max(60, 4 * side))
        .facet(facet=alt.Facet("latent:O", title="Decoder column"), columns=10)
        .properties(usermeta={"keep_aspect": True})  # images: square pixels in a file or on a slide
    )
