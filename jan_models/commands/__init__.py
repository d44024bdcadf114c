"""Subcommands of the jan-models console script, one module each."""
