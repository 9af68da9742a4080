"""The gateway's OpenAPI document, generated from the code and checked in at services/gateway/openapi.json.

Usage: python -m ragplane_gateway.openapi [--check]   (--check exits 1 when the checked-in file is stale)
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

from ragplane_gateway.app import create_app
from ragplane_gateway.config import load

CHECKED_IN = pathlib.Path(__file__).resolve().parents[2] / "openapi.json"


def document() -> dict[str, Any]:
    """The OpenAPI document of the app with default settings (what /openapi.json serves)."""
    return create_app(load({})).openapi()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not CHECKED_IN.exists() or CHECKED_IN.read_text() != text:
            print(f"{CHECKED_IN} is stale: run python -m ragplane_gateway.openapi", file=sys.stderr)
            return 1
        return 0
    CHECKED_IN.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
