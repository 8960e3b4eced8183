"""The home page: the five phenomena, which are built, and where to start."""

from __future__ import annotations

import streamlit as st

from engine.phenomena import PHENOMENA, available


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
            else:
                cols[1].caption("coming")
