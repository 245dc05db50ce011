"""Every endpoint against every role: who gets through, who gets 403, who gets 404.

The matrix is the contract in docs/api.md ("Who may do what"); a new endpoint belongs here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.urls import get_resolver

from backend.audio.models import StorageConnection
from backend.audio.services import IngestSource, items_ingest
from backend.dataio.models import ExportJob, ImportJob
from backend.predictions.models import TrainingRun
from backend.projects.models import Membership
from tests.audio_gen import write_tone
from tests.factories import AnnotationFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLES = ("outsider", "annotator", "reviewer", "manager")


@dataclass(frozen=True)
class Case:
    method: str
    url: str
    body: dict | None
    # expected status per role, in ROLES order
    expected: tuple[int, int, int, int]
    fmt: str = "json"


def _cases(
    project_id: int, item_id: int, others_annotation_id: int, member_id: int, run_id: int = 5
) -> list[Case]:
    p, i, a, m, r = project_id, item_id, others_annotation_id, member_id, run_id
    ok_all = (404, 200, 200, 200)
    return [
        Case("get", f"/api/projects/{p}/", None, ok_all),
        Case("patch", f"/api/projects/{p}/", {"instructions": "x"}, (404, 403, 403, 200)),
        Case("get", f"/api/projects/{p}/members/", None, (404, 403, 200, 200)),
        Case("post", f"/api/projects/{p}/members/", {"username": "ghost", "role": "annotator"},
             (404, 403, 403, 400)),
        Case("get", f"/api/projects/{p}/items/", None, ok_all),
        Case("post", f"/api/projects/{p}/items/upload/", {}, (404, 403, 403, 400), "multipart"),
        Case("patch", f"/api/projects/{p}/members/{m}/", {"role": "reviewer"},
             (404, 403, 403, 200)),
        Case("get", f"/api/items/{i}/", None, ok_all),
        Case("get", f"/api/items/{i}/predictions/", None, ok_all),
        Case("get", f"/api/items/{i}/audio/", None, ok_all),
        Case("get", f"/api/items/{i}/peaks/", None, ok_all),
        Case("get", f"/api/items/{i}/spectrogram/", {"px_per_s": 8, "index": 0}, ok_all),
        Case("get", f"/api/items/{i}/spectrogram/info/", None, ok_all),
        Case("get", f"/api/items/{i}/annotations/", None, ok_all),
        Case("post", f"/api/items/{i}/annotations/", {}, (404, 201, 201, 201)),
        Case("post", f"/api/items/{i}/skip/", None, (404, 200, 200, 200)),
        Case("get", f"/api/projects/{p}/next-item/", None, ok_all),
        Case("get", f"/api/projects/{p}/annotations/", None, ok_all),
        # someone else's annotation: hidden from annotators (blind), visible to reviewers
        Case("get", f"/api/annotations/{a}/", None, (404, 404, 200, 200)),
        Case("patch", f"/api/annotations/{a}/", {"version": 1}, (404, 404, 403, 403)),
        Case("post", f"/api/annotations/{a}/submit/", {"version": 1}, (404, 404, 403, 403)),
        Case("get", f"/api/projects/{p}/model-versions/", None, ok_all),
        Case("get", f"/api/projects/{p}/training-runs/", None, ok_all),
        # starting needs a manager; this project has no labels yet, so the manager gets a 400
        Case("post", f"/api/projects/{p}/training-runs/", None, (404, 403, 403, 400)),
        # ordering the queue needs an embedding model, which this project lacks: 400
        Case("post", f"/api/projects/{p}/queue-order/", None, (404, 403, 403, 400)),
        Case("get", f"/api/training-runs/{r}/", None, ok_all),
        # the run has finished: the manager may try, and hears it is too late
        Case("post", f"/api/training-runs/{r}/cancel/", None, (404, 403, 403, 409)),
        Case("get", f"/api/projects/{p}/predictions/", None, ok_all),
        Case("post", f"/api/projects/{p}/embedding-model/", {}, (404, 403, 403, 400),
             "multipart"),
        Case("delete", f"/api/projects/{p}/embedding-model/", None, (404, 403, 403, 204)),
        # agreement figures compare people's work: reviewers and managers only
        Case("get", f"/api/projects/{p}/agreement/", None, (404, 403, 200, 200)),
        Case("get", f"/api/projects/{p}/progress/", None, (404, 403, 200, 200)),
        Case("get", f"/api/projects/{p}/disputed-items/", None, (404, 403, 200, 200)),
        Case("get", f"/api/items/{i}/consensus/", None, (404, 403, 200, 200)),
        # the queue, leases, assignment and review
        Case("post", f"/api/projects/{p}/next-item/", None, ok_all),
        # the caller has no draft on the item, so no lease to renew (tests/backend/annotations)
        Case("post", f"/api/items/{i}/lease/", None, (404, 404, 404, 404)),
        Case("get", f"/api/items/{i}/compare/", None, (404, 403, 200, 200)),
        Case("get", f"/api/projects/{p}/review-queue/", None, (404, 403, 200, 200)),
        # someone else's draft: hidden from annotators; reviewers may not review a draft
        Case("post", f"/api/annotations/{a}/review/", {"verdict": "accepted"},
             (404, 404, 409, 409)),
        Case("get", f"/api/projects/{p}/assignments/", None, ok_all),
        Case("post", f"/api/projects/{p}/assignments/", {"user": m, "items": [i]},
             (404, 403, 403, 201)),
        Case("delete", f"/api/projects/{p}/assignments/", {"user": m, "items": [i]},
             (404, 403, 403, 200)),
        Case("post", f"/api/projects/{p}/assignments/unassign/", {"user": m, "items": [i]},
             (404, 403, 403, 200)),
        # imports and exports: managers only (job ids equal the project id in this test)
        Case("get", f"/api/projects/{p}/imports/", None, (404, 403, 403, 200)),
        Case("post", f"/api/projects/{p}/imports/", {}, (404, 403, 403, 400), "multipart"),
        Case("get", f"/api/imports/{p}/", None, (404, 403, 403, 200)),
        Case("get", f"/api/projects/{p}/exports/", None, (404, 403, 403, 200)),
        Case("post", f"/api/projects/{p}/exports/", {"format": "csv"}, (404, 403, 403, 202)),
        Case("get", f"/api/exports/{p}/", None, (404, 403, 403, 200)),
        # the export has not run: the manager hears the file does not exist yet
        Case("get", f"/api/exports/{p}/download/", None, (404, 403, 403, 409)),
        # storage connections: managers only (the connection id equals the project id here);
        # the folder is not among EARMARK_FOLDER_ROOTS, so a sync is a 400 connection_failed
        Case("get", f"/api/projects/{p}/connections/", None, (404, 403, 403, 200)),
        Case("post", f"/api/projects/{p}/connections/", {}, (404, 403, 403, 400)),
        Case("get", f"/api/connections/{p}/", None, (404, 403, 403, 200)),
        Case("post", f"/api/connections/{p}/sync/", None, (404, 403, 403, 400)),
        Case("delete", f"/api/connections/{p}/", None, (404, 403, 403, 204)),
        Case("delete", f"/api/items/{i}/", None, (404, 403, 403, 204)),
        Case("delete", f"/api/projects/{p}/", None, (404, 403, 403, 204)),
    ]  # fmt: skip


@pytest.fixture
def stored_item(project, media_root, tmp_path, django_capture_on_commit_callbacks):
    path = write_tone(tmp_path / "a.wav", duration_s=1.0)
    with django_capture_on_commit_callbacks(execute=True):
        (outcome,) = items_ingest(
            project=project, sources=[IngestSource(name="a.wav", path=path)], uploaded_by=None
        )
    return outcome.item


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case_index", range(len(_cases(1, 2, 3, 4))))
def test_permission_matrix(client_for, project, stored_item, role, case_index):
    # given a project with an item, someone else's annotation on it, and a caller in `role`
    item = stored_item
    owner = UserFactory()
    Membership.objects.create(project=project, user=owner, role="annotator")
    others = AnnotationFactory(item=item, annotator=owner)
    user = UserFactory()
    if role != "outsider":
        Membership.objects.create(project=project, user=user, role=role)
    run = TrainingRun.objects.create(project=project, state=TrainingRun.State.SUCCEEDED)
    case = _cases(project.pk, item.pk, others.pk, owner.pk, run.pk)[case_index]
    ImportJob.objects.create(pk=project.pk, project=project, format="native", source_key="k")
    ExportJob.objects.create(pk=project.pk, project=project, format="csv")
    StorageConnection.objects.create(
        pk=project.pk, project=project, name="field", kind="folder", root="/srv/not-allowed"
    )
    # when they call the endpoint
    response = getattr(client_for(user), case.method)(case.url, case.body, format=case.fmt)
    # then the answer is the one the contract gives their role
    expected = case.expected[ROLES.index(role)]
    assert response.status_code == expected, (case.method, case.url, response.content[:300])


def _routes(patterns: list, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if hasattr(pattern, "url_patterns"):
            out |= _routes(pattern.url_patterns, route)
        else:
            out.add("/" + re.sub(r"<int:\w+>", "<>", route))
    return out


def test_the_matrix_covers_every_api_route():
    covered = {re.sub(r"/\d+/", "/<>/", c.url) for c in _cases(1, 2, 3, 4)}
    covered = {re.sub(r"/\d+/", "/<>/", c) for c in covered}
    open_routes = {"/api/health/", "/api/auth/token/", "/api/me/", "/api/schema/", "/api/docs/",
                   "/api/projects/"}  # fmt: skip
    api = {r for r in _routes(get_resolver().url_patterns) if r.startswith("/api/")}
    missing = api - covered - open_routes
    assert not missing, f"add these routes to the permission matrix: {sorted(missing)}"
