"""Charts of the randomized-smoothing experiments: pure functions DataFrame -> Altair chart."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.core.lazy import LazyModule
from engine.phenomena.smoothing.paper import PAPER_ALPHA, PAPER_CIFAR10, PAPER_N
from engine.phenomena.smoothing.readouts import accuracy_curves, average_certified_radius

alt = LazyModule("altair")  # imported when a chart is first built

# Fixed domains: a colour or a shape means one thing on every setting (and every sigma).
CLASS_COLORS = {"domain": [0, 1], "range": ["#9ecae1", "#fdae6b"]}
POINT_COLORS = {"domain": [0, 1], "range": ["#08519c", "#a63603"]}
OUTCOMES = ("certified, correct", "certified, wrong", "abstained")
OUTCOME_SHAPES = {"domain": list(OUTCOMES), "range": ["circle", "cross", "triangle-up"]}
CLASSIFIERS = {"domain": ["base f", "smoothed g"], "range": ["#e45756", "#4c78a8"]}
ATTACK_FOUND = ("found", "not found up to eps_max (drawn at the top)")
ATTACK_SHAPES = {"domain": list(ATTACK_FOUND), "range": ["circle", "triangle-up"]}
STANDARD_SIGMAS = (0.12, 0.25, 0.5, 1.0)
RADIUS_AXIS = "certified L2 radius (input units)"
LEGEND = {"orient": "bottom", "direction": "horizontal", "labelLimit": 0, "titleLimit": 0}


def _sigma_scale(sigmas) -> alt.Scale:
    """One colour per sigma, from a domain that always holds the paper's four sigmas."""
    return alt.Scale(domain=sorted({*STANDARD_SIGMAS, *(float(s) for s in sigmas)}), scheme="viridis")


def _circles(points: pd.DataFrame, vertices: int = 48) -> pd.DataFrame:
    """Polygon vertices of each certified ball: columns point, order, x1, x2, prediction."""
    certified = points[points["radius"] > 0]
    angle = np.linspace(0.0, 2 * np.pi, vertices + 1)
    parts = [
        pd.DataFrame(
            {
                "point": int(row.index),
                "order": np.arange(vertices + 1),
                "x1": row.x1 + row.radius * np.cos(angle),
                "x2": row.x2 + row.radius * np.sin(angle),
                "prediction": int(row.prediction),
            }
        )
        for row in certified.itertuples()
    ]
    columns = ["point", "order", "x1", "x2", "prediction"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _outcome(points: pd.DataFrame) -> pd.Series:
    labels = np.where(
        points["prediction"] < 0, OUTCOMES[2], np.where(points["correct"], OUTCOMES[0], OUTCOMES[1])
    )
    return pd.Series(labels, index=points.index)


def _strips(cells: pd.DataFrame, color: str) -> pd.DataFrame:
    """Runs of horizontally adjacent cells of one class, one rect each (a 64 x 48 picture draws
    as about 200 strips instead of 3,072 cells, so its PNG/SVG export is 10x cheaper): columns
    x1_lo, x1_hi, x2_lo, x2_hi, the class column ``color``, p_lo and p_hi (smoothed pA range)."""
    ordered = cells.sort_values(["x2_lo", "x1_lo"], kind="stable")
    row = ordered["x2_lo"].to_numpy()
    cls = ordered[color].to_numpy()
    start = np.r_[True, (row[1:] != row[:-1]) | (cls[1:] != cls[:-1])]
    run = np.cumsum(start)
    grouped = ordered.assign(run=run).groupby("run", sort=True)
    return pd.DataFrame(
        {
            "x1_lo": grouped["x1_lo"].min(),
            "x1_hi": grouped["x1_hi"].max(),
            "x2_lo": grouped["x2_lo"].first(),
            "x2_hi": grouped["x2_hi"].first(),
            color: grouped[color].first(),
            "p_lo": grouped["p_top"].min(),
            "p_hi": grouped["p_top"].max(),
        }
    ).reset_index(drop=True)


def _panel(cells: pd.DataFrame, points: pd.DataFrame, color: str, title: str, domain, circles=None):
    x = alt.X("x1:Q", title="x1", scale=alt.Scale(domain=domain[0], nice=False))
    y = alt.Y("x2:Q", title="x2", scale=alt.Scale(domain=domain[1], nice=False))
    regions = (
        alt.Chart(_strips(cells, color))
        .mark_rect(opacity=0.8)
        .encode(
            x=alt.X("x1_lo:Q", title="x1", scale=alt.Scale(domain=domain[0], nice=False)),
            x2="x1_hi:Q",
            y=alt.Y("x2_lo:Q", title="x2", scale=alt.Scale(domain=domain[1], nice=False)),
            y2="x2_hi:Q",
            color=alt.Color(f"{color}:N", scale=CLASS_COLORS, title="region class", legend=LEGEND),
            tooltip=[
                alt.Tooltip(f"{color}:N", title="class"),
                alt.Tooltip("p_lo:Q", format=".3f", title="smoothed pA, lowest in this strip"),
                alt.Tooltip("p_hi:Q", format=".3f", title="smoothed pA, highest in this strip"),
            ],
        )
    )
    dots = (
        alt.Chart(points)
        .mark_point(filled=True, size=60, stroke="black", strokeWidth=0.6)
        .encode(
            x=x,
            y=y,
            fill=alt.Fill("label:N", scale=POINT_COLORS, title="true label", legend=LEGEND),
            shape=alt.Shape("outcome:N", scale=OUTCOME_SHAPES, title="certificate", legend=LEGEND),
            tooltip=[
                "index:Q",
                "label:Q",
                "prediction:Q",
                alt.Tooltip("radius:Q", format=".3f"),
                alt.Tooltip("exact_radius:Q", format=".3f", title="exact radius"),
                alt.Tooltip("p_top:Q", format=".3f", title="pA"),
            ],
        )
    )
    layers = [regions, dots]
    if circles is not None and len(circles):
        layers.append(
            alt.Chart(circles)
            .mark_line(strokeWidth=1.2, clip=True)
            .encode(
                x=x,
                y=y,
                detail="point:N",
                order="order:Q",
                stroke=alt.Stroke("prediction:N", scale=POINT_COLORS, title="certified class", legend=LEGEND),
            )
        )
    return alt.layer(*layers).properties(title=title, width=300, height=225)


def toy_regions(frame: pd.DataFrame) -> alt.HConcatChart:
    """Base classifier's regions beside the smoothed classifier's, with certified balls as circles."""
    cells = frame.loc[frame["kind"] == "cell", ["x1", "x2", "cell", "base_class", "smooth_class", "p_top"]]
    half = cells["cell"] / 2
    cells = pd.DataFrame(
        {
            "x1_lo": cells["x1"] - half,
            "x1_hi": cells["x1"] + half,
            "x2_lo": cells["x2"] - half,
            "x2_hi": cells["x2"] + half,
            "base_class": cells["base_class"],
            "smooth_class": cells["smooth_class"],
            "p_top": cells["p_top"].round(3),
        }
    )
    points = frame.loc[
        frame["kind"] == "point",
        ["index", "x1", "x2", "label", "prediction", "correct", "radius", "exact_radius", "p_top"],
    ].copy()
    points["outcome"] = _outcome(points)
    domain = ((cells["x1_lo"].min(), cells["x1_hi"].max()), (cells["x2_lo"].min(), cells["x2_hi"].max()))
    sigma = float(frame["sigma"].iloc[0])
    base = _panel(cells, points, "base_class", "Base classifier f", domain)
    smooth = _panel(
        cells,
        points,
        "smooth_class",
        f"Smoothed classifier g, sigma = {sigma:g}",
        domain,
        circles=_circles(points),
    )
    return (
        alt.hconcat(base, smooth)
        .resolve_scale(color="shared", fill="shared", shape="shared")
        .properties(usermeta={"keep_aspect": True})  # a file or slide scales it uniformly: balls stay round
    )


def _cap_rules(caps: pd.DataFrame, scale: alt.Scale) -> alt.Chart:
    return (
        alt.Chart(caps)
        .mark_rule(strokeDash=[4, 4])
        .encode(
            x=alt.X("cap:Q"),
            color=alt.Color("sigma:N", title="sigma", scale=scale),
            tooltip=[
                alt.Tooltip("sigma:N"),
                alt.Tooltip("cap:Q", format=".3f", title="sigma Phi^-1(alpha^(1/n))"),
            ],
        )
    )


def _curve_lines(curves: pd.DataFrame, title: str, scale: alt.Scale) -> alt.Chart:
    return (
        alt.Chart(curves)
        .mark_line()
        .encode(
            x=alt.X("radius:Q", title=RADIUS_AXIS),
            y=alt.Y("certified_accuracy:Q", title="certified accuracy", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("sigma:N", title="sigma", scale=scale),
            tooltip=[
                alt.Tooltip("sigma:N"),
                alt.Tooltip("radius:Q", format=".3f"),
                alt.Tooltip("certified_accuracy:Q", format=".3f", title="certified accuracy"),
            ],
        )
        .properties(title=title)
    )


def accuracy_curves_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Our certified accuracy against radius, one line per sigma, with the cap of each sigma
    (dashed) and, for CIFAR-10, the paper's numbers as hollow points."""
    curves = accuracy_curves(frame)
    caps = curves.drop_duplicates("sigma")[["sigma", "cap"]]
    dataset = str(frame["dataset"].iloc[0])
    n = int(frame["n"].iloc[0])
    scale = _sigma_scale(curves["sigma"])
    layers = [
        _curve_lines(curves, f"Ours: {dataset}, {frame['model'].iloc[0]}, n = {n:,}", scale),
        _cap_rules(caps, scale),
    ]
    if dataset == "cifar10":
        paper = _paper_frame()
        paper = paper[paper["sigma"].isin(curves["sigma"].unique())]
        layers.append(
            alt.Chart(paper)
            .mark_point(size=70, shape="diamond")
            .encode(
                x="radius:Q",
                y="certified_accuracy:Q",
                color=alt.Color("sigma:N", scale=scale),
                tooltip=[
                    alt.Tooltip("sigma:N"),
                    "radius:Q",
                    alt.Tooltip("certified_accuracy:Q", title="paper"),
                ],
            )
        )
    return alt.layer(*layers).properties(width=420, height=300)


def _paper_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"sigma": sigma, "radius": radius, "certified_accuracy": value}
            for sigma, table in PAPER_CIFAR10.items()
            for radius, value in table.items()
        ]
    )


def paper_curves_chart(frame: pd.DataFrame | None = None) -> alt.LayerChart:
    """The paper's CIFAR-10 table (ResNet-110, n = 100,000, alpha = 0.001) drawn as curves, with
    each sigma's cap. ``frame`` is accepted for the chart registry and not used."""
    from engine.phenomena.smoothing.science import max_certifiable_radius  # torch: only for this chart

    paper = _paper_frame()
    caps = pd.DataFrame({"sigma": list(PAPER_CIFAR10)})
    caps["cap"] = [max_certifiable_radius(s, PAPER_N, PAPER_ALPHA) for s in caps["sigma"]]
    scale = _sigma_scale(caps["sigma"])
    lines = _curve_lines(paper, "Paper: CIFAR-10, ResNet-110, n = 100,000", scale).mark_line(point=True)
    return alt.layer(lines, _cap_rules(caps, scale)).properties(width=420, height=300)


def attack_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Empirical PGD radius of the base and the smoothed classifier against the certified radius,
    per test input; the diagonal y = x separates 'attack beat the certificate' (below) from above.
    Both axes end just beyond the largest radius drawn; an attack that found nothing up to eps_max
    is drawn at the top edge with its own shape."""
    long = pd.concat(
        [
            frame.assign(classifier="base f", empirical=frame["base_radius"], found=frame["base_found"]),
            frame.assign(
                classifier="smoothed g", empirical=frame["smooth_radius"], found=frame["smooth_found"]
            ),
        ],
        ignore_index=True,
    )
    reached = long.loc[long["found"].astype(bool), "empirical"]
    top = 1.1 * max(float(long["radius"].max()), float(reached.max()) if len(reached) else 0.0, 0.05)
    long["shown"] = long["empirical"].where(long["found"].astype(bool), top).clip(upper=top)
    long["attack"] = np.where(long["found"].astype(bool), ATTACK_FOUND[0], ATTACK_FOUND[1])
    axis = alt.Scale(domain=[0, top], nice=False)
    dots = (
        alt.Chart(long)
        .mark_point(filled=True, size=50, opacity=0.8)
        .encode(
            x=alt.X("radius:Q", title=RADIUS_AXIS, scale=axis),
            y=alt.Y("shown:Q", title="smallest successful PGD radius (L2)", scale=axis),
            color=alt.Color("classifier:N", title="attacked", scale=CLASSIFIERS, legend=LEGEND),
            shape=alt.Shape("attack:N", title="attack", scale=ATTACK_SHAPES, legend=LEGEND),
            tooltip=[
                "index:Q",
                "label:Q",
                "prediction:Q",
                alt.Tooltip("radius:Q", format=".3f"),
                alt.Tooltip("empirical:Q", format=".3f"),
                "classifier:N",
                "attack:N",
            ],
        )
    )
    diagonal = (
        alt.Chart(pd.DataFrame({"radius": [0.0, top], "shown": [0.0, top]}))
        .mark_line(color="gray", strokeDash=[4, 4])
        .encode(x="radius:Q", y="shown:Q")
    )
    return alt.layer(diagonal, dots).properties(
        title=f"Certified vs empirical robustness, sigma = {float(frame['sigma'].iloc[0]):g}",
        width=420,
        height=320,
    )


def linear_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Certified radius (y) against the true distance to g's boundary (x), one colour per n, with
    the line y = x (a tight certificate lies on it) and each n's cap as a dashed horizontal rule."""
    ns = sorted(int(n) for n in frame["n"].unique())
    scale = alt.Scale(domain=ns, scheme="viridis")
    top = 1.05 * float(frame["true_radius"].max())
    axis = alt.Scale(domain=[0, top], nice=False)
    data = frame.assign(outcome=np.where(frame["prediction"] < 0, "abstained", "certified"))
    dots = (
        alt.Chart(data)
        .mark_point(filled=True, size=45)
        .encode(
            x=alt.X("true_radius:Q", title="true distance to g's boundary (input units)", scale=axis),
            y=alt.Y("radius:Q", title=RADIUS_AXIS, scale=axis),
            color=alt.Color("n:O", title="samples n", scale=scale, legend=LEGEND),
            tooltip=[
                "point:Q",
                "n:Q",
                alt.Tooltip("true_radius:Q", format=".3f"),
                alt.Tooltip("radius:Q", format=".3f"),
                alt.Tooltip("exact_radius:Q", format=".3f", title="sigma Phi^-1(pA)"),
                alt.Tooltip("p_lower:Q", format=".4f"),
                "outcome:N",
            ],
        )
    )
    diagonal = (
        alt.Chart(pd.DataFrame({"true_radius": [0.0, top], "radius": [0.0, top]}))
        .mark_line(color="gray", strokeDash=[4, 4])
        .encode(x="true_radius:Q", y="radius:Q")
    )
    caps = frame.drop_duplicates("n")[["n", "cap"]]
    rules = (
        alt.Chart(caps[caps["cap"] < top])
        .mark_rule(strokeDash=[2, 4])
        .encode(
            y="cap:Q",
            color=alt.Color("n:O", scale=scale),
            tooltip=["n:Q", alt.Tooltip("cap:Q", format=".3f")],
        )
    )
    base = str(frame["base"].iloc[0])
    return alt.layer(diagonal, rules, dots).properties(
        title=f"{base}: certified vs true radius, sigma = {float(frame['sigma'].iloc[0]):g}",
        width=420,
        height=320,
    )


def linear_gap_chart(frame: pd.DataFrame) -> alt.Chart:
    """Mean (true - certified) radius / sigma against n (log), over the points each n can reach
    (true radius <= 0.8 of its cap): a tight certificate falls towards 0."""
    rows = []
    for n, g in frame.groupby("n", sort=True):
        inside = g[g["true_radius"] <= 0.8 * g["cap"]]
        gap = ((inside["true_radius"] - inside["radius"]) / inside["sigma"]).mean() if len(inside) else np.nan
        rows.append({"n": int(n), "gap": float(gap), "points": len(inside)})
    table = pd.DataFrame(rows)
    return (
        alt.Chart(table)
        .mark_line(point=True)
        .encode(
            x=alt.X("n:Q", title="samples n", scale=alt.Scale(type="log")),
            y=alt.Y("gap:Q", title="mean (true - certified) radius / sigma", scale=alt.Scale(zero=True)),
            tooltip=["n:Q", alt.Tooltip("gap:Q", format=".4f"), "points:Q"],
        )
        .properties(title=f"{frame['base'].iloc[0]}: gap to the true radius", width=420, height=320)
    )


def grid_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Average certified radius for each (training sigma, certification sigma): a heat map with the
    values written in, and the matched cells (train = certify) outlined."""
    cells = [
        {
            "train_sigma": float(t),
            "sigma": float(s),
            "acr": average_certified_radius(g),
            "matched": bool(np.isclose(t, s)),
        }
        for (t, s), g in frame.groupby(["train_sigma", "sigma"], sort=True)
    ]
    table = pd.DataFrame(cells)
    x = alt.X("sigma:O", title="certification sigma (input units)", axis=alt.Axis(labelAngle=0))
    y = alt.Y("train_sigma:O", title="training sigma (0 = clean)", sort="descending")
    heat = (
        alt.Chart(table)
        .mark_rect()
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "acr:Q",
                title="average certified radius",
                scale=alt.Scale(scheme="blues"),
                legend=alt.Legend(orient="bottom", titleLimit=0),
            ),
            tooltip=["train_sigma:Q", "sigma:Q", alt.Tooltip("acr:Q", format=".3f", title="ACR")],
        )
    )
    outline = (
        alt.Chart(table[table["matched"]])
        .mark_rect(fill=None, stroke="#d62728", strokeWidth=2.5)
        .encode(x=x, y=y)
    )
    text = (
        alt.Chart(table)
        .mark_text(fontSize=12)
        .encode(
            x=x,
            y=y,
            text=alt.Text("acr:Q", format=".2f"),
            color=alt.condition(
                alt.datum.acr > 0.6 * float(table["acr"].max()), alt.value("white"), alt.value("black")
            ),
        )
    )
    return alt.layer(heat, outline, text).properties(
        title=f"{frame['dataset'].iloc[0]}: average certified radius, n = {int(frame['n'].iloc[0]):,}",
        width=360,
        height=260,
    )


NOISE_COLORS = {"domain": ["gaussian", "laplace", "uniform"], "range": ["#4c78a8", "#e45756", "#54a24b"]}


def noise_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """Certified accuracy against L1 radius per (noise, sigma): columns noise, sigma, radius,
    certified_accuracy, cap; radii 0 to 1.1 x the largest cap (61 steps)."""
    radii = np.linspace(0.0, float(frame["cap"].max()) * 1.1, 61)
    parts = [
        accuracy_curves(rows, radii).assign(noise=noise) for noise, rows in frame.groupby("noise", sort=False)
    ]
    return pd.concat(parts, ignore_index=True)


def noise_curves_chart(frame: pd.DataFrame) -> alt.FacetChart:
    """Certified accuracy against certified L1 radius, one panel per sigma (the per-coordinate
    std all three distributions share), one colour per noise distribution."""
    curves = noise_curves(frame)
    dataset, n = str(frame["dataset"].iloc[0]), int(frame["n"].iloc[0])
    return (
        alt.Chart(curves)
        .mark_line()
        .encode(
            x=alt.X("radius:Q", title="certified L1 radius (input units)"),
            y=alt.Y("certified_accuracy:Q", title="certified accuracy", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("noise:N", scale=NOISE_COLORS, title="noise", legend=LEGEND),
            tooltip=[
                "noise:N",
                alt.Tooltip("sigma:Q", title="sigma (std per coordinate)"),
                alt.Tooltip("radius:Q", format=".3f"),
                alt.Tooltip("certified_accuracy:Q", format=".3f"),
            ],
        )
        .properties(width=200, height=180)
        .facet(
            column=alt.Column("sigma:O", title=f"sigma (per-coordinate std); {dataset}, n = {n:,}"),
        )
    )
