"""Streamlit pages and the helpers they share (the app's only Streamlit code)."""
