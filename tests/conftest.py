"""Test-run header: the versions of the libraries whose data the tests hold the app to."""

from __future__ import annotations


def pytest_report_header() -> str:
    import phonenumbers

    return f"phonenumbers {phonenumbers.__version__} (tests/test_phone_agreement.py holds the import's phone checks to it)"
