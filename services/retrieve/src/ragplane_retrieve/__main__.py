"""Run the retrieve service: ``python -m ragplane_retrieve``."""

from ragplane.runtime.server import run_service
from ragplane_retrieve.config import load
from ragplane_retrieve.app import RetrieveApp


def main() -> None:
    settings = load()
    run_service(RetrieveApp(settings), settings)


if __name__ == "__main__":
    main()
