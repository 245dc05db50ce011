from __future__ import annotations

import io
import json
from typing import Any

import pytest

from backend.dataio.exports import ExportSpec, export_write
from backend.dataio.formats.records import Record
from backend.dataio.services import (
    ImportOptions,
    ImportReport,
    read_records,
    records_import,
)
from backend.projects.models import Project
from backend.users.models import User


def run_import(
    project: Project,
    text: str | bytes,
    fmt: str,
    *,
    user: User | None = None,
    name: str = "upload",
    **options: Any,
) -> ImportReport:
    data = text.encode() if isinstance(text, str) else text
    opts = ImportOptions.from_json(options)
    records = read_records(fmt=fmt, fh=io.BytesIO(data), name=name, project=project, options=opts)
    return records_import(project=project, records=records, user=user, options=opts)


def run_export(project: Project, fmt: str, **spec: Any) -> bytes:
    out = io.BytesIO()
    export_write(project=project, spec=ExportSpec(fmt=fmt, **spec), out=out)
    return out.getvalue()


def jsonl(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def records(reader: Any, text: str, **kw: Any) -> list[Record]:
    return list(reader(io.StringIO(text), **kw))


@pytest.fixture
def empty_project(db: None) -> Project:
    return Project.objects.create(name="empty", label_schema={})


@pytest.fixture
def manager_of():
    from tests.factories import MembershipFactory, UserFactory

    def make(project: Project) -> User:
        user = UserFactory()
        MembershipFactory(project=project, user=user, role="manager")
        return user

    return make
