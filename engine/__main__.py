"""``python -m engine``: the workbench's command line."""

import sys

from engine.cli import main

sys.exit(main())
