"""Run the guardrail service: ``python -m ragplane_guardrail``."""

import sys

from ragplane.runtime.server import run_service
from ragplane.runtime.settings import SettingsError
from ragplane_guardrail.app import GuardrailApp
from ragplane_guardrail.config import load


def main() -> None:
    try:
        settings = load()
    except SettingsError as exc:
        sys.exit(f"guardrail: invalid configuration: {exc}")
    run_service(GuardrailApp(settings), settings)


if __name__ == "__main__":
    main()
