"""Run the generate service: ``python -m ragplane_generate``."""

from ragplane.runtime.server import run_service
from ragplane_generate.app import GenerateApp
from ragplane_generate.config import load


def main() -> None:
    settings = load()
    run_service(GenerateApp(settings), settings)


if __name__ == "__main__":
    main()
