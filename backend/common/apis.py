from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.health import run_checks


class HealthApi(APIView):
    """Status of the database, the broker and storage; 503 when any is down.

    Open to anyone (load balancers ask without credentials); it reveals no data.
    """

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request: Request) -> Response:
        checks = run_checks()
        ok = all(c.ok for c in checks)
        body = {"ok": ok, "checks": {c.name: asdict(c) for c in checks}}
        return Response(body, status=200 if ok else 503)
