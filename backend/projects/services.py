from __future__ import annotations

from typing import Any

from django.db import transaction

from backend.common.exceptions import Conflict, ValidationFailed
from backend.common.queue import enqueue_on_commit
from backend.common.services import model_update
from backend.projects.models import Membership, Project
from backend.projects.schema import LabelSchema
from backend.projects.training import TrainingSettings
from backend.users.models import User

TASK_STORAGE_DELETE_PREFIX = "earmark.common.storage_delete_prefix"

PROJECT_EDITABLE = [
    "name",
    "instructions",
    "label_schema",
    "annotations_per_item",
    "queue_policy",
    "training_settings",
    "show_predictions",
]


def project_storage_prefix(project_id: int) -> str:
    return f"projects/{project_id}/"


@transaction.atomic
def project_create(
    *,
    name: str,
    created_by: User,
    instructions: str = "",
    label_schema: dict[str, Any] | None = None,
    annotations_per_item: int = 1,
    queue_policy: str = Project.QueuePolicy.SEQUENTIAL,
    training_settings: dict[str, Any] | None = None,
    show_predictions: bool = True,
) -> Project:
    schema = LabelSchema.parse(label_schema or {})
    TrainingSettings.parse(training_settings, schema=schema)
    project = Project(
        name=name,
        instructions=instructions,
        label_schema=schema.to_json(),
        annotations_per_item=annotations_per_item,
        queue_policy=queue_policy,
        training_settings=training_settings or {},
        show_predictions=show_predictions,
        created_by=created_by,
    )
    project.full_clean()
    project.save()
    Membership.objects.create(project=project, user=created_by, role=Membership.Role.MANAGER)
    return project


@transaction.atomic
def project_update(*, project: Project, data: dict[str, Any]) -> Project:
    if "label_schema" in data:
        # Existing annotations keep their labels; removing a label that is in use is a schema
        # migration question the manager must answer explicitly (not handled here yet).
        data = {**data, "label_schema": LabelSchema.parse(data["label_schema"]).to_json()}
    if "training_settings" in data or "label_schema" in data:
        schema = LabelSchema.parse(data.get("label_schema", project.label_schema))
        TrainingSettings.parse(
            data.get("training_settings", project.training_settings),
            schema=schema,
            project_id=project.pk,
        )
    project, _ = model_update(instance=project, fields=PROJECT_EDITABLE, data=data)
    return project


@transaction.atomic
def project_delete(*, project: Project) -> None:
    prefix = project_storage_prefix(project.pk)
    project.delete()
    # Stored audio and peaks go only once the rows are gone for good.
    enqueue_on_commit(TASK_STORAGE_DELETE_PREFIX, prefix)


@transaction.atomic
def membership_set(*, project: Project, user: User, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationFailed(
            f"unknown role {role!r}", fields={"role": [f"must be one of {Membership.Role.values}"]}
        )
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        membership = Membership(project=project, user=user, role=role)
        membership.full_clean()
        membership.save()
        return membership
    if membership.role == Membership.Role.MANAGER and role != Membership.Role.MANAGER:
        _ensure_another_manager(project=project, user=user)
    membership, _ = model_update(instance=membership, fields=["role"], data={"role": role})
    return membership


@transaction.atomic
def membership_remove(*, project: Project, user: User) -> None:
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        return
    if membership.role == Membership.Role.MANAGER:
        _ensure_another_manager(project=project, user=user)
    membership.delete()


def _ensure_another_manager(*, project: Project, user: User) -> None:
    others = (
        Membership.objects.select_for_update()
        .filter(project=project, role=Membership.Role.MANAGER)
        .exclude(user=user)
    )
    if not others.exists():
        raise Conflict("a project needs at least one manager; add another manager first")
