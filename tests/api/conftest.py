"""Fixtures for API tests: the daemon fixture of the daemon tests."""

from tests.daemon.conftest import daemon

__all__ = ["daemon"]
