"""Run the orchestrator: ``python -m ragplane_orchestrator``."""

from ragplane.runtime.server import run_service
from ragplane_orchestrator.app import RagApp
from ragplane_orchestrator.config import load


def main() -> None:
    settings = load()
    run_service(RagApp(settings), settings)


if __name__ == "__main__":
    main()
