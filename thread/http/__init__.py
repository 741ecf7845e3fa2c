"""Thread over HTTP (FastAPI): `thread serve`. Importing this package imports FastAPI."""

from thread.http.app import Settings, create_app

__all__ = ["Settings", "create_app"]
