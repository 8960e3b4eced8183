"""Streamlit helpers shared by the pages: URL-backed widgets, the sidebar, running and showing.

The engine never imports streamlit; this package is the only UI code besides app.py and pages/.
"""
