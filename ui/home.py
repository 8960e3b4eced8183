"""The home page: the five phenomena, which are built, the claims scoreboard and where to start."""

from __future__ import annotations

from pathlib import Path

import joblib
import pandas as pd
import streamlit as st

from engine import bundle
from engine.core import cache
from engine.present import claims, report
from engine.core.registry import BROKEN, PHENOMENA, available


def home_page() -> None:
    st.title("Phenomena Lab")
    st.markdown(
        "Reproduce, explore and present five surprising phenomena of modern deep learning. "
        "Each page runs the paper's experiment at a **quick** scale live on this machine, and shows "
        "the **paper** scale when it has been precomputed (`python -m engine precompute NAME --preset paper`)."
    )
    built = {p.name for p in available()}
    for p in PHENOMENA:
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


SHIPPED_BUNDLE = Path(__file__).resolve().parent.parent / "bundles" / "paper-cpu.zip"


def _offer_shipped_results() -> None:
    """A button that imports the paper-scale results shipped with the lab, until they are in."""
    if not SHIPPED_BUNDLE.exists() or all(
        cache.is_cached(r["experiment"], r["version"], r["config"]) for r in bundle.manifest(SHIPPED_BUNDLE)
    ):
        return
    if st.button("Load the shipped paper-scale results", key="home_import_shipped",
                 help=f"Imports {SHIPPED_BUNDLE.name}: the paper presets a CPU can compute (verified "
                 "hashes, no pickles). Same as `python -m engine import bundles/paper-cpu.zip`."):
        try:
            count = bundle.import_bundle(SHIPPED_BUNDLE)
            st.success(f"Imported {count} paper-scale results; choose the *paper* scale in the sidebar.")
        except bundle.BundleError as err:
            st.error(str(err))


def claims_scoreboard() -> None:
    st.subheader("Claims scoreboard")
    st.caption(
        "Every claim the experiments check: the paper's number, ours at quick scale (live) and at "
        "paper scale (when precomputed), and whether ours reproduces it. Statuses are judged at the "
        "claim's own scale; paper-scale results are never computed here."
    )
    _offer_shipped_results()
    if st.button("Compute missing quick-scale results", key="home_fill_claims",
                 help="Runs every quick-scale experiment a claim needs that is not cached yet "
                 "(a few minutes on a laptop the first time)."):
        _fill_quick_results()
    board = _scoreboard(_cache_state())
    counts = board["status"].value_counts()
    st.markdown(" · ".join(f"**{counts.get(s, 0)}** {s}" for s in claims.STATUSES))
    st.dataframe(
        board[["phenomenon", "claim", "status", "paper", "ours (quick)", "ours (paper)", "unit", "page"]],
        hide_index=True, width="stretch", height=min(35 * (len(board) + 1) + 3, 600),
        column_config={"page": st.column_config.LinkColumn("page", display_text=r"/(.*)$"),
                       "claim": st.column_config.TextColumn("claim", width="large")},
    )
    st.download_button(
        "Download the reproducibility report (zip: Markdown, HTML, figures)",
        lambda: report.report_zip(cached_only=True), file_name="phenomena-lab-report.zip",
        mime="application/zip", key="home_report",
        help="Built from the cached results when you click (paper scale where precomputed). "
        "`python -m engine report --out DIR` also computes what is missing at quick scale.",
    )
