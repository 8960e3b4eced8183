"""Phenomena Lab: ``streamlit run app.py``. Navigation, shared sidebar and the home page."""

from __future__ import annotations

import streamlit as st

from ui.collector import paused_on_first_run

st.set_page_config(page_title="Phenomena Lab", page_icon=":material/science:", layout="wide")

with paused_on_first_run():  # the first run imports the engine: no collector passes (ui/collector.py)
    from engine.core.registry import available, phenomena
    from ui import warm
    from ui.home import home_page
    from ui.sidebar import draw_cache_count, draw_sidebar

    built = {p.name for p in available()}
    pages = [st.Page(home_page, title="Home", icon=":material/home:", default=True, url_path="home")]
    pages += [
        st.Page(f"pages/{p.name}.py", title=p.title, icon=p.icon, url_path=p.name)
        for p in phenomena()
        if p.name in built
    ]
    pages.append(st.Page("pages/talk.py", title="Talk mode", icon=":material/slideshow:", url_path="talk"))
    navigation = st.navigation(pages)
    count = None
    with warm.foreground():  # the background warm-up (ui/warm.py) waits while a page runs
        if navigation.url_path != "talk":  # talk mode: no sidebar (pages/talk.py also hides it)
            count = draw_sidebar()
        navigation.run()
        draw_cache_count(count)  # after the page: counts what it computed
    warm.start_once()  # the first page is served: import what the other pages need, in the background
