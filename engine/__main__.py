"""``python -m engine``: the workbench's command line."""

import sys

from engine.cli.commands import main

sys.exit(main())
