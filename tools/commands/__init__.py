"""Subcommands of `mast`, one module each; see :mod:`tools.cli`."""
