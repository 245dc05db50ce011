"""What the browser tests share: the factories' password, logging in, the screenshot switch."""

from __future__ import annotations

import os

from playwright.sync_api import Page, expect

# tests.factories.UserFactory's password
PASSWORD = "pw-secret-123"
# Set EARMARK_SCREENSHOTS=1 to refresh the pictures in docs/ from these tests.
SCREENSHOTS = os.environ.get("EARMARK_SCREENSHOTS") == "1"


def log_in(page: Page, username: str) -> None:
    """Log in through the login form; lands on the project list."""
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url("/")
