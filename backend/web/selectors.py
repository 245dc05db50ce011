"""Read queries for the pages. The web app may not change the apps below it, so the few reads
the pages need that those apps do not offer live here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count

from backend.annotations.models import Annotation
from backend.audio.models import AudioItem
from backend.users.models import User


@dataclass(frozen=True)
class Progress:
    """One person's progress in one project."""

    submitted: int
    items: int

    @property
    def percent(self) -> int:
        return round(100 * self.submitted / self.items) if self.items else 0


def progress_by_project(*, user: User, project_ids: Iterable[int]) -> dict[int, Progress]:
    """My submitted annotations and the items of each project: two grouped queries in all."""
    ids = list(project_ids)
    if not ids:
        return {}
    items = dict(
        AudioItem.objects.filter(project_id__in=ids)
        .values("project_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("project_id", "n")
    )
    submitted = dict(
        Annotation.objects.filter(
            annotator=user, state=Annotation.State.SUBMITTED, item__project_id__in=ids
        )
        .values("item__project_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("item__project_id", "n")
    )
    return {pid: Progress(submitted=submitted.get(pid, 0), items=items.get(pid, 0)) for pid in ids}
