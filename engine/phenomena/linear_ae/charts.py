"""Charts of the linear-autoencoder experiments: pure functions DataFrame -> alt.Chart."""

from __future__ import annotations

import altair as alt
import pandas as pd

VARIANT_ORDER = ["uniform", "non_uniform", "rotation", "non_uniform+rotation"]
_COLOR = alt.Color("variant:N", sort=VARIANT_ORDER, title="Variant")


def _over_steps(frame: pd.DataFrame, column: str, title: str, log_y: bool) -> alt.Chart:
    data = frame[~frame["diverged"]].copy()
    # Both metrics are >= 0; rounding leaves -1e-16 at the optimum, and a log axis cannot show 0.
    data[column] = data[column].clip(lower=1e-16 if log_y else 0.0)
    scale = alt.Scale(type="log") if log_y else alt.Scale(zero=True)
    return (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X("step:Q", title="Iteration (full-batch steps)"),
            y=alt.Y(f"{column}:Q", title=title, scale=scale),
            color=_COLOR,
            tooltip=["variant", "step", alt.Tooltip(f"{column}:Q", format=".3e"), "optimizer"],
        )
        .properties(height=320)
    )


def alignment_chart(frame: pd.DataFrame) -> alt.Chart:
    """Axis alignment mean_i(1 - max_j cos^2) against iteration, one line per variant."""
    return _over_steps(frame, "axis_alignment", "Axis alignment (0 = principal axes)", log_y=False)


def subspace_chart(frame: pd.DataFrame) -> alt.Chart:
    """Subspace distance 1 - tr(U U^T P)/k against iteration, log scale."""
    return _over_steps(frame, "subspace_distance", "Subspace distance (log)", log_y=True)


def loss_chart(frame: pd.DataFrame) -> alt.Chart:
    """Regularized loss against iteration."""
    return _over_steps(frame, "loss", "Regularized loss", log_y=False)


def cosine_heatmap(frame: pd.DataFrame) -> alt.Chart:
    """|cos| of each decoder column (x) against each eigenvector (y), one panel per variant."""
    return (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("latent:O", title="Decoder column j"),
            y=alt.Y("eigenvector:O", title="Eigenvector i (by eigenvalue)"),
            color=alt.Color("abs_cos:Q", title="|cos|", scale=alt.Scale(domain=[0, 1], scheme="blues")),
            tooltip=["variant", "eigenvector", "latent", alt.Tooltip("abs_cos:Q", format=".3f"), "step"],
        )
        .properties(width=150, height=150)
        .facet(column=alt.Column("variant:N", sort=VARIANT_ORDER, title=None))
    )


def scaling_chart(frame: pd.DataFrame) -> alt.Chart:
    """Steps to reach the threshold against k, log-log; hollow points did not reach it."""
    return (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=60))
        .encode(
            x=alt.X("k:Q", title="Latent dimension k (log)", scale=alt.Scale(type="log")),
            y=alt.Y("steps:Q", title="Steps to axis alignment < threshold (log)", scale=alt.Scale(type="log")),
            color=alt.Color("variant:N", sort=VARIANT_ORDER, title="Variant"),
            shape=alt.Shape("reached:N", title="Reached"),
            tooltip=["variant", "k", "steps", "reached", alt.Tooltip("final_alignment:Q", format=".3e")],
        )
        .properties(height=320)
    )


def decoder_images(frame: pd.DataFrame) -> alt.Chart:
    """Each decoder column as a small image (rows x cols pixels), one panel per latent."""
    side = int(frame["row"].max()) + 1
    return (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("col:O", axis=None),
            y=alt.Y("row:O", axis=None),
            color=alt.Color("value:Q", title="Weight", scale=alt.Scale(scheme="redblue", domainMid=0)),
            tooltip=["latent", "row", "col", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(width=max(60, 4 * side), height=max(60, 4 * side))
        .facet(facet=alt.Facet("latent:O", title="Decoder column"), columns=10)
    )
