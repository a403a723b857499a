"""The workbench engine: ingest, mapping, validation, storage and metrics.

Nothing in this package imports streamlit or altair, so the same code serves the app,
the command line and the tests.
"""
