from typing import Any

from django.core.management.base import BaseCommand

from backend.web.demo import DEMO_PASSWORD, DEMO_USERNAME, demo_seed


class Command(BaseCommand):
    help = "Create the demo manager account and demo project with generated audio (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        _, project, outcomes = demo_seed()
        created = sum(o.status == "created" for o in outcomes)
        self.stdout.write(
            f"Demo project {project.name!r} (id {project.pk}): {created} new recordings, "
            f"{len(outcomes) - created} already there."
        )
        self.stdout.write(f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}")
