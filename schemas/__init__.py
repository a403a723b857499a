"""pandera models of the canonical tables and the row rules they enforce."""
