"""Run the rerank service: ``python -m ragplane_rerank``."""

from ragplane.runtime.server import run_service
from ragplane_rerank.app import RerankApp
from ragplane_rerank.config import load


def main() -> None:
    settings = load()
    run_service(RerankApp(settings), settings)


if __name__ == "__main__":
    main()
