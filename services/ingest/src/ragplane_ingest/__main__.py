"""Run the ingest service: ``python -m ragplane_ingest``."""

from ragplane.runtime.server import run_service
from ragplane_ingest.app import IngestApp
from ragplane_ingest.config import load


def main() -> None:
    settings = load()
    run_service(IngestApp(settings), settings)


if __name__ == "__main__":
    main()
