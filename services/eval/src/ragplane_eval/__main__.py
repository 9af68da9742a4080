"""Run the eval service: ``python -m ragplane_eval``."""

from ragplane.runtime.server import run_service
from ragplane_eval.app import EvalApp
from ragplane_eval.config import load


def main() -> None:
    settings = load()
    run_service(EvalApp(settings), settings)


if __name__ == "__main__":
    main()
