"""Run the orchestrator: ``python -m ragplane_orchestrator``."""

from ragplane.runtime.server import run_service
from ragplane_orchestrator.config import load
from ragplane_orchestrator.app import RagApp


def main() -> None:
    settings = load()
    run_service(RagApp(settings), settings)


if __name__ == "__main__":
    main()
