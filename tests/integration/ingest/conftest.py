"""Makes the ingest test helpers (and the unit tests' document builders) importable."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent.parent / "unit" / "ingest"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
