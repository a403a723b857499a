"""The command line (``python -m engine``): the top layer, free to use every other."""
