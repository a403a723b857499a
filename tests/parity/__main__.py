"""Command line of :mod:`tests.parity.capture` (see the package docstring)."""

from tests.parity.capture import main

raise SystemExit(main())
