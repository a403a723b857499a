"""Storage: workspaces of datasets, each a DuckDB file published whole, and who may open it.
Imports only the core."""
