"""Run the CPU model server: ``python -m ragplane_generate.modelserver`` (settings from the environment)."""

from ragplane_generate.modelserver.server import main

if __name__ == "__main__":
    main()
