"""Generated benchmark inputs: the sample generator at scale, written once and reused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def generate(out: Path, **counts: int) -> None:
    """Write generated CSVs to ``out`` (counts: opportunities, activities, leads)."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "sample_data.generate", "--out", str(out)]
    for name, n in counts.items():
        cmd += [f"--{name}", str(n)]
    subprocess.run(cmd, cwd=ROOT, check=True)
