"""``manage.py earmark_import PROJECT FILE --format F``: import a file in this process."""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from backend.common.exceptions import ApplicationError
from backend.dataio.models import ImportJob
from backend.dataio.services import ImportOptions, read_records, records_import
from backend.projects.models import Project
from backend.users.models import User


class Command(BaseCommand):
    help = "Import a dataset file into a project (runs here, not in the worker)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("project", type=int, help="project id")
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", required=True, choices=ImportJob.Format.values)
        parser.add_argument("--user", help="username of the importing user (owns unnamed work)")
        parser.add_argument("--options", default="{}", help="import options as a JSON object")
        parser.add_argument("--report", type=Path, help="write the full JSON report here")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(pk=opts["project"]).first()
        if project is None:
            raise CommandError(f"no project {opts['project']}")
        user = None
        if opts["user"]:
            user = User.objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"no user {opts['user']!r}")
        path: Path = opts["file"]
        if not path.is_file():
            raise CommandError(f"no file {path}")
        try:
            options = ImportOptions.from_json(json.loads(opts["options"]))
        except (json.JSONDecodeError, TypeError) as exc:
            raise CommandError(f"--options: {exc}") from exc
        started = time.perf_counter()

        def progress(done: int) -> None:
            self.stderr.write(f"\r{done} rows", ending="")

        try:
            with path.open("rb") as fh:
                records = read_records(
                    fmt=opts["format"], fh=fh, name=path.name, project=project, options=options
                )
                report = records_import(
                    project=project,
                    records=records,
                    user=user,
                    options=options,
                    on_progress=progress,
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write("")
        body = report.to_json()
        if opts["report"]:
            opts["report"].write_text(json.dumps(body, indent=1))
        summary = {k: body[k] for k in ("rows", "created", "updated", "unchanged", "rejected")}
        self.stdout.write(
            f"{json.dumps(summary)} in {time.perf_counter() - started:.1f} s; "
            f"{body['error_count']} errors, {len(body['unmapped'])} unmapped"
        )
        for error in body["errors"][:20]:
            self.stdout.write(f"  row {error['row']} {error['field']}: {error['reason']}")
        if report.rejected:
            raise CommandError(f"{report.rejected} rows rejected")
