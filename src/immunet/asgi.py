"""The ASGI entry point for uvicorn workers: ``immunet.asgi:app``."""

from immunet.app import create_app

app = create_app()
