"""Run the retrieve service: ``python -m ragplane_retrieve``."""

from ragplane.runtime.server import run_service
from ragplane_retrieve.app import RetrieveApp
from ragplane_retrieve.config import load


def main() -> None:
    settings = load()
    run_service(RetrieveApp(settings), settings)


if __name__ == "__main__":
    main()
