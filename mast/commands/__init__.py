"""Subcommands of `mast`, one module each; see :mod:`mast.cli`."""
