"""The core: the canonical tables and their columns, errors, value parsing, masking and safe
export. It imports nothing else of the workbench, so every other layer can build on it."""
