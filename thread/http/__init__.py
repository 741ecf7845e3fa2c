"""Thread over HTTP (FastAPI): `thread serve`. Importing this package imports FastAPI."""

from thread.http.app import create_app
from thread.http.settings import Settings

__all__ = ["Settings", "create_app"]
