from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from backend.common.models import BaseModel


class Project(BaseModel):
    class QueuePolicy(models.TextChoices):
        SEQUENTIAL = "sequential", "In upload order"
        RANDOM = "random", "Random"
        UNCERTAINTY = "uncertainty", "Least certain first (needs a model)"
        DIVERSE = "diverse", "Least certain first, spread over different sounds (needs a model)"

    name = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    label_schema = models.JSONField(default=dict)
    annotations_per_item = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    queue_policy = models.CharField(
        max_length=20, choices=QueuePolicy.choices, default=QueuePolicy.SEQUENTIAL
    )
    training_settings = models.JSONField(default=dict, blank=True)
    # Whether annotators see the model's pre-annotations while labelling (blind projects hide
    # them until review so predictions cannot anchor the labels being measured).
    show_predictions = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    def __str__(self) -> str:
        return self.name


class Membership(BaseModel):
    class Role(models.TextChoices):
        MANAGER = "manager", "Manager"
        REVIEWER = "reviewer", "Reviewer"
        ANNOTATOR = "annotator", "Annotator"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.project_id}:{self.role}"
