"""Contracts the three services share: messages, events, names, labels, errors, helpers.

Nothing in here imports a service; an import-linter contract keeps it that way.
"""
