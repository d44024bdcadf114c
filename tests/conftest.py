"""Fixtures for every tier; the real-server ones live in tests/plugins/."""

pytest_plugins = ["tests.plugins.servers", "tests.plugins.kubesim", "tests.plugins.reports"]
