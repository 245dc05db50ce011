from django.urls import path

from backend.users.apis import MeApi, TokenCreateApi

urlpatterns = [
    path("auth/token/", TokenCreateApi.as_view(), name="auth-token"),
    path("me/", MeApi.as_view(), name="me"),
]
