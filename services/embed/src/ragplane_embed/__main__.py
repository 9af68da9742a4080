"""Run the embed service: ``python -m ragplane_embed``."""

from ragplane.runtime.server import run_service
from ragplane_embed.app import EmbedApp
from ragplane_embed.config import load


def main() -> None:
    settings = load()
    run_service(EmbedApp(settings), settings)


if __name__ == "__main__":
    main()
