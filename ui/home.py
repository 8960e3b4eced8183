"""The home page: the five phenomena, which are built, the claims scoreboard and where to start."""

from __future__ import annotations

import html
import itertools
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import streamlit as st

from engine import bundle
from engine.core import cache
from engine.core.registry import BROKEN, available, phenomena
from engine.present import claims

from .progress import throttled


def home_page() -> None:
    st.title("Phenomena Lab")
    st.markdown(
        "Reproduce, explore and present five surprising phenomena of modern deep learning. "
        "Each page runs the paper's experiment at a **quick** scale live on this machine, and shows "
        "the **paper** scale when it has been precomputed (`python -m engine precompute NAME --preset paper`)."
    )
    built = {p.name for p in available()}
    for p in phenomena():
        with st.container(border=True):
            cols = st.columns([4, 1])
            cols[0].markdown(f"**{p.title}** \n{p.paper}  \n{p.summary}")
            if p.name in built:
                cols[1].page_link(f"pages/{p.name}.py", label="Open", icon=":material/arrow_forward:")
            elif p.name in BROKEN:
                cols[1].warning(f"failed to load: {BROKEN[p.name]}")
            else:
                cols[1].caption("coming")
    claims_scoreboard()
    st.page_link("pages/talk.py", label="Talk mode: play talks/example.toml", icon=":material/slideshow:")


def _cache_state() -> str:
    """A fingerprint of what the cache holds (changes when a result is added or replaced)."""
    records = cache.index_records()
    return joblib.hash(sorted((r["experiment"], r["version"], r["digest"]) for r in records))


@st.cache_data(show_spinner=False, max_entries=4)
def _scoreboard(state: str) -> pd.DataFrame:
    """The scoreboard from cached results only (fast; recomputed when the cache changes)."""
    return claims.scoreboard_frame(claims.scoreboard())


def _fill_quick_results() -> None:
    """Compute every missing quick-scale result the claims need, with a progress bar."""
    bar = st.progress(0.0, text="Measuring the claims")
    claims.scoreboard(compute=True, progress=lambda f, m: bar.progress(f, text=m))
    bar.empty()


BUNDLES = Path(__file__).resolve().parent.parent / "bundles"
SHIPPED_BUNDLE = BUNDLES / "paper-cpu.zip"  # the paper presets a CPU can compute
QUICK_BUNDLE = BUNDLES / "quick.zip"  # the quick presets' slider grids: every page position instant
REAL_BUNDLE = BUNDLES / "real-cpu.zip"  # the real-data presets (Fashion-MNIST, the real MNIST sample)
SHIPPED = (SHIPPED_BUNDLE, QUICK_BUNDLE, REAL_BUNDLE)


def _missing(path: Path, state: str) -> bool:
    """Whether a shipped bundle exists and holds a result the cache does not (remembered per bundle
    file and cache ``state``)."""
    try:
        stat = path.stat()
    except OSError:
        return False
    return _missing_for(str(path), (stat.st_mtime_ns, stat.st_size), state)


@st.cache_data(show_spinner=False, max_entries=16)
def _missing_for(path: str, stamp: tuple[int, int], state: str) -> bool:
    """The bundle's current keys (its manifest alone: a few ms) against the cache's index."""
    return bool(bundle.offered_keys(path) - {r.get("key") for r in cache.index_records()})


def _report_zip() -> bytes:
    """The reproducibility report from the cached results (imported on the click: the home page does
    not load the report's renderers)."""
    from engine.present import report

    return report.report_zip(cached_only=True)


def _offer_shipped_results(state: str) -> None:
    """One button that imports the results shipped with the lab, until they are in (``state``: the
    cache's fingerprint, :func:`_cache_state`)."""
    imported = st.session_state.pop("home_imported", None)
    if imported is not None:
        st.success(
            f"Imported {imported} results: the paper-scale results a CPU can compute (choose the *paper* "
            "scale in the sidebar), the real-data results (Fashion-MNIST, the real MNIST sample) and the "
            "quick presets' slider positions (instant on every page)."
        )
    todo = [path for path in SHIPPED if _missing(path, state)]
    if not todo:
        return
    if st.button(
        "Load the shipped results",
        key="home_import_shipped",
        help="Imports " + " and ".join(p.name for p in todo) + " (verified hashes, keys and configs; no "
        "pickles). Same as `python -m engine import bundles/<name>.zip`.",
    ):
        bar = st.progress(0.0, text="Importing the shipped results")
        update = throttled(bar)
        sizes = [max(len(bundle.offered_keys(str(path))), 1) for path in todo]  # manifests only: ms
        try:
            total = 0
            for path, before, size in zip(todo, itertools.accumulate([0, *sizes]), sizes):

                def progress(fraction: float, message: str, before=before, size=size) -> None:
                    update((before + fraction * size) / sum(sizes), message)

                total += bundle.import_bundle(path, progress=progress)
            st.session_state["home_imported"] = total
        except bundle.BundleError as err:
            bar.empty()
            st.error(str(err))
            return
        st.rerun()  # the button, the scoreboard and the sidebar's count now see the new results


STATUS_STYLE = {  # the status's words go inside: "shown on Fashion-MNIST", "reproduced (3 of 3 seeds hold)"
    claims.REPRODUCED: ":green[**{}**]",
    claims.DIFFERS: ":red[**{}**]",
    claims.SHOWN: ":blue[**{}**]",
    claims.NOT_SHOWN: ":violet[{}]",
    claims.OTHER_DATA: ":gray[{}]",
    claims.NOT_COMPUTED: ":gray[{}]",
    claims.FAILED: ":orange[**{}**]",
    claims.NO_SCALE: ":gray[{}]",
}
FILTERS = {
    "reproduced": claims.REPRODUCED,
    "differs": claims.DIFFERS,
    "shown on other data": claims.SHOWN,
    "not shown on other data": claims.NOT_SHOWN,
    "measured on other data": claims.OTHER_DATA,
    "not computed": claims.NOT_COMPUTED,
    "could not measure": claims.FAILED,
}
SCALE_TITLES = {"quick": "ours, quick scale", "paper": "ours, paper scale", "real": "ours, real data (CPU)"}


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return html.escape(str(text), quote=False).replace("|", "&#124;").replace("\n", " ")


def _ours(row: dict[str, Any], scale: str) -> str:
    """The status, then our number with its unit (the claim's unit, as the paper's column)."""
    status = row[f"status ({scale})"]
    words = _cell(row.get(f"words ({scale})", status) or status).replace("[", "(").replace("]", ")")
    value = row[f"ours ({scale})"]
    unit = f" {_cell(row['unit'])}" if row.get("unit") else ""
    return STATUS_STYLE.get(status, "{}").format(words) + (f": {_cell(value)}{unit}" if value != "—" else "")


def _claims_markdown(board: pd.DataFrame) -> str:
    """Per experiment: the setup of its numbers at each scale, then one table row per claim: the
    full claim (its note below it), ours and the status at each scale, the paper's number with the
    setup it measured (shown where it changes)."""
    out = []
    for experiment, group in board.groupby("experiment", sort=False):
        first = group.iloc[0]
        setups = " · ".join(
            f"**{scale}**: {_cell(first[f'setup ({scale})'])}"
            for scale in claims.SCALES
            if first[f"status ({scale})"] != claims.NO_SCALE and first[f"setup ({scale})"]
        )
        out.append(f"`{experiment}`" + (f" — ours at {setups}" if setups else ""))
        lines = [
            "| claim | " + " | ".join(SCALE_TITLES[scale] for scale in claims.SCALES) + " | paper |",
            "|---" * (len(claims.SCALES) + 2) + "|",
        ]
        last_setup = None
        for row in group.to_dict("records"):  # dicts: iterrows built a Series per row (0.1 s a visit)
            claim = _cell(row["claim"])
            if row["note"]:
                note = row["note"] if len(row["note"]) <= 240 else row["note"][:237] + "..."
                claim += f"<br><small>note: {_cell(note)}</small>"
            paper = _cell(row["paper"]) + (
                f" {_cell(row['unit'])}" if row["unit"] and row["paper"] != "—" else ""
            )
            if row["paper setup"] and row["paper setup"] != last_setup:
                paper += f"<br><small>{_cell(row['paper setup'])}</small>"
                last_setup = row["paper setup"]
            ours = " | ".join(_ours(row, scale) for scale in claims.SCALES)
            lines.append(f"| {claim} | {ours} | {paper} |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def claims_scoreboard() -> None:
    st.subheader("Claims scoreboard")
    st.caption(
        "Every claim the experiments check: ours at quick scale (live), at paper scale and on real "
        "images sized for a CPU (when precomputed), each judged on its own measurement and data set, "
        "with the setup of every number beside it; the paper's number with the setup it measured. "
        "*Reproduced* or *differs* only where our data set is the paper's (and our number is within "
        "the claim's stated tolerance of the paper's); on other data the status says what was shown "
        "on what. Paper-scale and real-data results are never computed here."
    )
    state = _cache_state()
    _offer_shipped_results(state)
    if st.button(
        "Compute missing quick-scale results",
        key="home_fill_claims",
        help="Runs every quick-scale experiment a claim needs that is not cached yet "
        "(a few minutes on a laptop the first time).",
    ):
        _fill_quick_results()
        st.rerun()
    board = _scoreboard(state)
    counts = {scale: board[f"status ({scale})"].value_counts() for scale in claims.SCALES}
    st.markdown(
        "  \n".join(
            f"**{scale} scale**: " + " · ".join(f"{counts[scale].get(s, 0)} {s}" for s in claims.STATUSES)
            for scale in claims.SCALES
        )
    )
    chosen = st.pills(
        "Show claims that are",
        list(FILTERS),
        selection_mode="multi",
        default=list(FILTERS),
        key="home_claim_filter",
        help="A claim is shown when its status at any scale is chosen.",
    )
    wanted = {FILTERS[c] for c in chosen or ()}
    shown = board[board[[f"status ({scale})" for scale in claims.SCALES]].isin(wanted).any(axis=1)]
    titles = {p.name: p.title for p in phenomena()}
    phenomena_rows = shown[shown["kind"] != "sanity"]
    st.html(
        "<style>.st-key-home_board table, .st-key-home_sanity table {font-size: 0.86rem;}"
        ".st-key-home_board td, .st-key-home_sanity td {padding: 0.3rem 0.5rem;}</style>"
    )
    board_box = st.container(key="home_board")
    for name, group in phenomena_rows.groupby("phenomenon", sort=False):
        board_box.markdown(f"##### [{titles.get(name, name)}](/{name})")
        board_box.markdown(_claims_markdown(group), unsafe_allow_html=True)
    if phenomena_rows.empty:
        board_box.caption("No claim about a phenomenon has the chosen status.")
    sanity = shown[shown["kind"] == "sanity"]
    with (
        st.container(key="home_sanity"),
        st.expander(f"Sanity checks ({len(sanity)}): true unless the code has a bug"),
    ):
        if sanity.empty:
            st.caption("None with the chosen status.")
        for name, group in sanity.groupby("phenomenon", sort=False):
            st.markdown(f"##### {titles.get(name, name)}")
            st.markdown(_claims_markdown(group), unsafe_allow_html=True)
    with st.container(horizontal=True):
        st.download_button(
            "Scoreboard (CSV)",
            board.to_csv(index=False).encode(),
            file_name="claims.csv",
            mime="text/csv",
            key="home_claims_csv",
            on_click="ignore",
        )
        st.download_button(
            "Download the reproducibility report (zip: Markdown, HTML, figures)",
            _report_zip,
            file_name="phenomena-lab-report.zip",
            mime="application/zip",
            key="home_report",
            on_click="ignore",
            help="Built from the cached results when you click (paper scale where precomputed). "
            "`python -m engine report --out DIR` also computes what is missing at quick scale.",
        )
