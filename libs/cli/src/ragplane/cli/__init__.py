"""The ``ragplane`` command."""
