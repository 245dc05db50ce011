from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.exceptions import ValidationFailed
from backend.projects.models import Membership, Project
from backend.projects.selectors import (
    membership_list,
    project_access,
    project_list_for_user,
    role_lookup,
    role_of,
)
from backend.projects.services import (
    membership_remove,
    membership_set,
    project_create,
    project_delete,
    project_update,
)
from backend.users.auth import current_user
from backend.users.models import User
from backend.users.selectors import user_get_by_username

Role = Membership.Role


class ProjectOutputSerializer(serializers.ModelSerializer[Project]):
    my_role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "instructions",
            "label_schema",
            "annotations_per_item",
            "queue_policy",
            "training_settings",
            "show_predictions",
            "my_role",
            "created_at",
            "updated_at",
        ]

    def get_my_role(self, obj: Project) -> str | None:
        role_of_project: Callable[[int], str | None] = self.context["role_of_project"]
        return role_of_project(obj.pk)


class ProjectInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    instructions = serializers.CharField(required=False, allow_blank=True)
    label_schema = serializers.JSONField(required=False)
    annotations_per_item = serializers.IntegerField(required=False, min_value=1, max_value=50)
    queue_policy = serializers.ChoiceField(choices=Project.QueuePolicy.choices, required=False)
    training_settings = serializers.JSONField(required=False)
    show_predictions = serializers.BooleanField(required=False)


class ProjectListCreateApi(ListAPIView[Project]):
    serializer_class = ProjectOutputSerializer

    def get_queryset(self) -> QuerySet[Project]:
        return project_list_for_user(user=self._user())

    def _user(self) -> User:
        return current_user(self.request)

    def get_serializer_context(self) -> dict[str, Any]:
        return {
            **super().get_serializer_context(),
            "role_of_project": role_lookup(user=self._user()),
        }

    @extend_schema(request=ProjectInputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request: Request) -> Response:
        data = ProjectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(created_by=self._user(), **data.validated_data)
        out = ProjectOutputSerializer(project, context=_one_role(Role.MANAGER))
        return Response(out.data, status=201)


def _one_role(role: str) -> dict[str, Any]:
    """Serializer context for a single project whose role is already known."""
    return {"role_of_project": lambda _project_id: role}


class ProjectDetailApi(APIView):
    class UpdateSerializer(ProjectInputSerializer):
        name = serializers.CharField(max_length=200, required=False)

    @extend_schema(responses=ProjectOutputSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        access = project_access(user=current_user(request), project_id=project_id)
        return Response(
            ProjectOutputSerializer(access.project, context=_one_role(access.role)).data
        )

    @extend_schema(request=UpdateSerializer, responses=ProjectOutputSerializer)
    def patch(self, request: Request, project_id: int) -> Response:
        access = project_access(
            user=current_user(request),
            project_id=project_id,
            minimum=Role.MANAGER,
        )
        data = self.UpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = project_update(project=access.project, data=data.validated_data)
        return Response(ProjectOutputSerializer(project, context=_one_role(access.role)).data)

    def delete(self, request: Request, project_id: int) -> Response:
        access = project_access(
            user=current_user(request),
            project_id=project_id,
            minimum=Role.MANAGER,
        )
        project_delete(project=access.project)
        return Response(status=204)


class MemberOutputSerializer(serializers.ModelSerializer[Membership]):
    user_id = serializers.IntegerField(source="user.id")
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role", "created_at"]


class MemberListCreateApi(ListAPIView[Membership]):
    """Members of a project. Managers and reviewers may list; managers add and change."""

    serializer_class = MemberOutputSerializer

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.ChoiceField(choices=Role.choices)

    def get_queryset(self) -> QuerySet[Membership]:
        access = project_access(
            user=current_user(self.request),
            project_id=self.kwargs["project_id"],
            minimum=Role.REVIEWER,
        )
        return membership_list(project=access.project)

    @extend_schema(request=InputSerializer, responses={201: MemberOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        access = project_access(
            user=current_user(request),
            project_id=project_id,
            minimum=Role.MANAGER,
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_get_by_username(username=data.validated_data["username"])
        if user is None:
            raise ValidationFailed(
                "no such user", fields={"username": ["no active user with this username"]}
            )
        membership = membership_set(
            project=access.project, user=user, role=data.validated_data["role"]
        )
        return Response(MemberOutputSerializer(membership).data, status=201)


class MemberDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(request=InputSerializer, responses=MemberOutputSerializer)
    def patch(self, request: Request, project_id: int, user_id: int) -> Response:
        access = project_access(
            user=current_user(request),
            project_id=project_id,
            minimum=Role.MANAGER,
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _member(project_id=project_id, user_id=user_id)
        membership = membership_set(
            project=access.project, user=user, role=data.validated_data["role"]
        )
        return Response(MemberOutputSerializer(membership).data)

    def delete(self, request: Request, project_id: int, user_id: int) -> Response:
        access = project_access(
            user=current_user(request),
            project_id=project_id,
            minimum=Role.MANAGER,
        )
        membership_remove(
            project=access.project, user=_member(project_id=project_id, user_id=user_id)
        )
        return Response(status=204)


def _member(*, project_id: int, user_id: int) -> User:
    user = User.objects.filter(pk=user_id).first()
    if user is None or role_of(user=user, project_id=project_id) is None:
        raise ValidationFailed(
            f"user {user_id} is not a member of this project",
            fields={"user_id": ["not a member"]},
            status_code=404,
            code="not_found",
        )
    return user
