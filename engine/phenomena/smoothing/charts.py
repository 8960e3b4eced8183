"""Charts of the randomized-smoothing experiments: pure functions DataFrame -> Altair chart."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from engine.phenomena.smoothing.experiments import PAPER_CIFAR10, accuracy_curves, max_certifiable_radius

CLASS_COLORS = alt.Scale(domain=[0, 1], range=["#9ecae1", "#fdae6b"])
POINT_COLORS = alt.Scale(domain=[0, 1], range=["#08519c", "#a63603"])
RADIUS_AXIS = "certified L2 radius (input units)"


def _circles(points: pd.DataFrame, vertices: int = 48) -> pd.DataFrame:
    """Polygon vertices of each certified ball: columns point, order, x1, x2, prediction."""
    certified = points[points["radius"] > 0]
    angle = np.linspace(0.0, 2 * np.pi, vertices + 1)
    parts = [
        pd.DataFrame({"point": int(row.index), "order": np.arange(vertices + 1),
                      "x1": row.x1 + row.radius * np.cos(angle), "x2": row.x2 + row.radius * np.sin(angle),
                      "prediction": int(row.prediction)})
        for row in certified.itertuples()
    ]
    columns = ["point", "order", "x1", "x2", "prediction"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _outcome(points: pd.DataFrame) -> pd.Series:
    labels = np.where(points["prediction"] < 0, "abstained",
                      np.where(points["correct"], "certified, correct", "certified, wrong"))
    return pd.Series(labels, index=points.index)


def _panel(cells: pd.DataFrame, points: pd.DataFrame, color: str, title: str, domain, circles=None):
    x = alt.X("x1:Q", title="x1", scale=alt.Scale(domain=domain[0], nice=False))
    y = alt.Y("x2:Q", title="x2", scale=alt.Scale(domain=domain[1], nice=False))
    regions = alt.Chart(cells).mark_rect(opacity=0.8).encode(
        x=alt.X("x1_lo:Q", title="x1", scale=alt.Scale(domain=domain[0], nice=False)), x2="x1_hi:Q",
        y=alt.Y("x2_lo:Q", title="x2", scale=alt.Scale(domain=domain[1], nice=False)), y2="x2_hi:Q",
        color=alt.Color(f"{color}:N", scale=CLASS_COLORS, title="region class"),
        tooltip=[alt.Tooltip(f"{color}:N", title="class"), alt.Tooltip("p_top:Q", format=".3f", title="smoothed pA")],
    )
    dots = alt.Chart(points).mark_point(filled=True, size=60, stroke="black", strokeWidth=0.6).encode(
        x=x, y=y, fill=alt.Fill("label:N", scale=POINT_COLORS, title="true label"),
        shape=alt.Shape("outcome:N", title="certificate"),
        tooltip=["index:Q", "label:Q", "prediction:Q", alt.Tooltip("radius:Q", format=".3f"),
                 alt.Tooltip("exact_radius:Q", format=".3f", title="exact radius"),
                 alt.Tooltip("p_top:Q", format=".3f", title="pA")],
    )
    layers = [regions, dots]
    if circles is not None and len(circles):
        layers.append(alt.Chart(circles).mark_line(strokeWidth=1.2, clip=True).encode(
            x=x, y=y, detail="point:N", order="order:Q",
            stroke=alt.Stroke("prediction:N", scale=POINT_COLORS, title="certified class"),
        ))
    return alt.layer(*layers).properties(title=title, width=380, height=285)


def toy_regions(frame: pd.DataFrame) -> alt.HConcatChart:
    """Base classifier's regions beside the smoothed classifier's, with certified balls as circles."""
    cells = frame.loc[frame["kind"] == "cell", ["x1", "x2", "cell", "base_class", "smooth_class", "p_top"]]
    half = cells["cell"] / 2
    cells = pd.DataFrame({"x1_lo": cells["x1"] - half, "x1_hi": cells["x1"] + half, "x2_lo": cells["x2"] - half,
                          "x2_hi": cells["x2"] + half, "base_class": cells["base_class"],
                          "smooth_class": cells["smooth_class"], "p_top": cells["p_top"].round(3)})
    points = frame.loc[frame["kind"] == "point", ["index", "x1", "x2", "label", "prediction", "correct", "radius",
                                                  "exact_radius", "p_top"]].copy()
    points["outcome"] = _outcome(points)
    domain = ((cells["x1_lo"].min(), cells["x1_hi"].max()), (cells["x2_lo"].min(), cells["x2_hi"].max()))
    sigma = float(frame["sigma"].iloc[0])
    base = _panel(cells, points, "base_class", "Base classifier f", domain)
    smooth = _panel(cells, points, "smooth_class", f"Smoothed classifier g, sigma = {sigma:g}", domain,
                    circles=_circles(points))
    return alt.hconcat(base, smooth)


def _cap_rules(caps: pd.DataFrame) -> alt.Chart:
    return alt.Chart(caps).mark_rule(strokeDash=[4, 4]).encode(
        x=alt.X("cap:Q"), color=alt.Color("sigma:N", title="sigma"),
        tooltip=[alt.Tooltip("sigma:N"), alt.Tooltip("cap:Q", format=".3f", title="sigma Phi^-1(alpha^(1/n))")],
    )


def _curve_lines(curves: pd.DataFrame, title: str) -> alt.Chart:
    return alt.Chart(curves).mark_line().encode(
        x=alt.X("radius:Q", title=RADIUS_AXIS),
        y=alt.Y("certified_accuracy:Q", title="certified accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("sigma:N", title="sigma"),
        tooltip=[alt.Tooltip("sigma:N"), alt.Tooltip("radius:Q", format=".3f"),
                 alt.Tooltip("certified_accuracy:Q", format=".3f", title="certified accuracy")],
    ).properties(title=title)


def accuracy_curves_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Our certified accuracy against radius, one line per sigma, with the cap of each sigma
    (dashed) and, for CIFAR-10, the paper's numbers as hollow points."""
    curves = accuracy_curves(frame)
    caps = curves.drop_duplicates("sigma")[["sigma", "cap"]]
    dataset = str(frame["dataset"].iloc[0])
    n = int(frame["n"].iloc[0])
    layers = [_curve_lines(curves, f"Ours: {dataset}, {frame['model'].iloc[0]}, n = {n:,}"), _cap_rules(caps)]
    if dataset == "cifar10":
        paper = _paper_frame()
        paper = paper[paper["sigma"].isin(curves["sigma"].unique())]
        layers.append(alt.Chart(paper).mark_point(size=70, shape="diamond").encode(
            x="radius:Q", y="certified_accuracy:Q", color=alt.Color("sigma:N"),
            tooltip=[alt.Tooltip("sigma:N"), "radius:Q", alt.Tooltip("certified_accuracy:Q", title="paper")],
        ))
    return alt.layer(*layers).properties(width=420, height=300)


def _paper_frame() -> pd.DataFrame:
    return pd.DataFrame([
        {"sigma": sigma, "radius": radius, "certified_accuracy": value}
        for sigma, table in PAPER_CIFAR10.items() for radius, value in table.items()
    ])


def paper_curves_chart(frame: pd.DataFrame | None = None) -> alt.LayerChart:
    """The paper's CIFAR-10 table (ResNet-110, n = 100,000, alpha = 0.001) drawn as curves, with
    each sigma's cap. ``frame`` is accepted for the chart registry and not used."""
    paper = _paper_frame()
    caps = pd.DataFrame({"sigma": list(PAPER_CIFAR10)})
    caps["cap"] = [max_certifiable_radius(s, 100_000, 0.001) for s in caps["sigma"]]
    lines = _curve_lines(paper, "Paper: CIFAR-10, ResNet-110, n = 100,000").mark_line(point=True)
    return alt.layer(lines, _cap_rules(caps)).properties(width=420, height=300)


def attack_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Empirical PGD radius of the base and the smoothed classifier against the certified radius,
    per test input; the diagonal y = x separates 'attack beat the certificate' (below) from above."""
    long = pd.concat([
        frame.assign(classifier="base f", empirical=frame["base_radius"], found=frame["base_found"]),
        frame.assign(classifier="smoothed g", empirical=frame["smooth_radius"], found=frame["smooth_found"]),
    ], ignore_index=True)
    top = float(frame["eps_max"].iloc[0])
    dots = alt.Chart(long).mark_point(filled=True, size=50).encode(
        x=alt.X("radius:Q", title=RADIUS_AXIS, scale=alt.Scale(domain=[0, top])),
        y=alt.Y("empirical:Q", title="smallest successful PGD radius (L2)", scale=alt.Scale(domain=[0, top])),
        color=alt.Color("classifier:N", title="attacked"), shape=alt.Shape("found:N", title="attack found"),
        tooltip=["index:Q", "label:Q", "prediction:Q", alt.Tooltip("radius:Q", format=".3f"),
                 alt.Tooltip("empirical:Q", format=".3f"), "classifier:N", "found:N"],
    )
    diagonal = alt.Chart(pd.DataFrame({"radius": [0.0, top], "empirical": [0.0, top]})).mark_line(
        color="gray", strokeDash=[4, 4]).encode(x="radius:Q", y="empirical:Q")
    return alt.layer(diagonal, dots).properties(
        title=f"Certified vs empirical robustness, sigma = {float(frame['sigma'].iloc[0]):g}", width=420, height=320)
