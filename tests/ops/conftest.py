"""The API client of the API tests, for the analytics tests too."""

from tests.api.conftest import client

__all__ = ["client"]
