from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.exceptions import ApplicationError
from backend.users.auth import current_user
from backend.users.models import User
from backend.users.services import token_rotate


class TokenCreateApi(APIView):
    """Exchange a username and password for an API token (for scripts and the CLI)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(style={"input_type": "password"})

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None or not isinstance(user, User):
            raise ApplicationError(
                "wrong username or password", code="authentication_failed", status_code=401
            )
        token = token_rotate(user=user)
        return Response(self.OutputSerializer({"token": token.key}).data, status=201)


class MeApi(APIView):
    class OutputSerializer(serializers.ModelSerializer[User]):
        class Meta:
            model = User
            fields = ["id", "username", "email", "first_name", "last_name", "is_superuser"]

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(current_user(request)).data)
