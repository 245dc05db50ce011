"""`earmark`: a small command-line client for Earmark's REST API.

It depends only on `requests` and the standard library, so it installs anywhere a script
runs; it never imports Django or the backend (an import-linter contract).
"""

from earmark_client.cli import main

__all__ = ["main"]
