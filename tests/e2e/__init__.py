"""Browser tests in headless Chromium (see README.md, "Tests")."""
