"""Run the guardrail service: ``python -m ragplane_guardrail``."""

from ragplane.runtime.server import run_service
from ragplane_guardrail.config import load
from ragplane_guardrail.service import GuardrailApp


def main() -> None:
    settings = load()
    run_service(GuardrailApp(settings), settings)


if __name__ == "__main__":
    main()
