"""``manage.py earmark_export PROJECT OUT --format F``: write an export in this process."""

from __future__ import annotations

import json
import sys
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from backend.common.exceptions import ApplicationError
from backend.dataio.exports import ExportSpec, export_write
from backend.dataio.models import ExportJob
from backend.predictions.models import ModelVersion
from backend.projects.models import Project


class Command(BaseCommand):
    help = "Export a project to a file (runs here, not in the worker)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("project", type=int, help="project id")
        parser.add_argument("out", type=Path, help="file to write ('-' for standard output)")
        parser.add_argument("--format", required=True, choices=ExportJob.Format.values)
        parser.add_argument("--source", default="all", choices=ExportJob.Source.values)
        parser.add_argument("--model-version", type=int, help="model version number (predictions)")
        parser.add_argument("--filters", default="{}", help="filters as a JSON object")
        parser.add_argument("--options", default="{}", help="options as a JSON object")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(pk=opts["project"]).first()
        if project is None:
            raise CommandError(f"no project {opts['project']}")
        model_version = None
        if opts["model_version"] is not None:
            model_version = ModelVersion.objects.filter(
                project=project, version=opts["model_version"]
            ).first()
            if model_version is None:
                raise CommandError(
                    f"project {project.pk} has no model version {opts['model_version']}"
                )
        try:
            spec = ExportSpec(
                fmt=opts["format"],
                source=opts["source"],
                model_version=model_version,
                filters=json.loads(opts["filters"]),
                options=json.loads(opts["options"]),
            )
        except json.JSONDecodeError as exc:
            raise CommandError(f"--filters/--options: {exc}") from exc
        started = time.perf_counter()
        out: Path = opts["out"]
        try:
            if str(out) == "-":
                outcome = export_write(project=project, spec=spec, out=sys.stdout.buffer)
            else:
                with out.open("wb") as fh:
                    outcome = export_write(project=project, spec=spec, out=fh)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"{outcome['items']} items in {time.perf_counter() - started:.1f} s"
            + (f"; skipped {len(outcome['skipped'])}" if outcome["skipped"] else "")
        )
