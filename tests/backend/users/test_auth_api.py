import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_token_authenticates_api_requests(api):
    user = UserFactory()
    response = api.post(
        "/api/auth/token/", {"username": user.username, "password": "pw-secret-123"}
    )
    assert response.status_code == 201
    token = response.json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api.get("/api/me/")
    assert me.status_code == 200
    assert me.json()["username"] == user.username


def test_a_new_token_revokes_the_old_one(api):
    user = UserFactory()
    creds = {"username": user.username, "password": "pw-secret-123"}
    old = api.post("/api/auth/token/", creds).json()["token"]
    api.post("/api/auth/token/", creds)
    api.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert api.get("/api/me/").status_code == 401


def test_wrong_password_is_401_with_a_clear_message(api):
    user = UserFactory()
    response = api.post("/api/auth/token/", {"username": user.username, "password": "nope"})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "wrong username or password"


def test_me_needs_authentication(api):
    assert api.get("/api/me/").status_code == 401


def test_session_login_reaches_the_pages(client):
    user = UserFactory()
    assert client.get("/").status_code == 302
    client.force_login(user)
    assert client.get("/").status_code == 200
