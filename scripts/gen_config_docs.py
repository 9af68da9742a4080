"""Write docs/configuration.md: every environment variable of every service, from the typed settings classes.

Usage: python scripts/gen_config_docs.py [--check]   (--check exits 1 when the file is out of date)
"""

from __future__ import annotations

import importlib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "configuration.md"


def _portable(rows):
    """Defaults that point into this machine's site-packages are shown relative to it."""
    import site

    prefixes = sorted(site.getsitepackages(), key=len, reverse=True)
    for var, default, doc in rows:
        for prefix in prefixes:
            default = default.replace(prefix, "<site-packages>")
        yield var, default, doc


def render() -> str:
    from ragplane.runtime.services import SERVICE_NAMES
    from ragplane.runtime.settings import CommonSettings, describe

    common = {row[0] for row in describe(CommonSettings)}
    lines = [
        "# Configuration reference",
        "",
        "Every setting is an environment variable, read once at start and validated; a bad value stops the",
        "service with an error naming the variable. Generated from the settings classes by",
        "`python scripts/gen_config_docs.py` (a test fails when this file is stale).",
        "",
        "## Shared by every service",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{var}` | `{default}` | {doc} |" for var, default, doc in _portable(describe(CommonSettings))]
    # The HTTP gateway is listed too, whether or not the table of gRPC services holds it.
    for name in (*SERVICE_NAMES, *(["gateway"] if "gateway" not in SERVICE_NAMES else [])):
        module = importlib.import_module(f"ragplane_{name}.config")
        rows = [row for row in describe(module.Settings) if row[0] not in common]
        lines += ["", f"## {name}", "", f"See also `services/{name}/README.md`.", ""]
        if not rows:
            lines.append("No settings beyond the shared ones.")
            continue
        lines += ["| variable | default | meaning |", "|---|---|---|"]
        lines += [f"| `{var}` | `{default}` | {doc} |" for var, default, doc in _portable(rows)]
    return "\n".join(line.replace("\n", " ") for line in lines) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print("docs/configuration.md is stale: run python scripts/gen_config_docs.py", file=sys.stderr)
            sys.exit(1)
    else:
        TARGET.parent.mkdir(exist_ok=True)
        TARGET.write_text(text)
