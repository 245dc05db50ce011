"""REST: create import and export jobs (202), read them, download the file; the commands."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.core.management import CommandError, call_command

from backend.annotations.models import Annotation
from backend.audio.models import AudioItem
from backend.dataio.models import ExportJob, ImportJob
from tests.backend.dataio.conftest import jsonl
from tests.factories import AnnotationFactory, AudioItemFactory, SegmentFactory

pytestmark = pytest.mark.django_db


def _upload(client, project_id, text, fmt, name="data.jsonl", **options):
    return client.post(
        f"/api/projects/{project_id}/imports/",
        {"file": io.BytesIO(text.encode()), "format": fmt, "options": json.dumps(options)}
        | {"file": _named(text, name)},
        format="multipart",
    )


def _named(text: str, name: str) -> io.BytesIO:
    buf = io.BytesIO(text.encode())
    buf.name = name
    return buf


def test_import_job_runs_and_reports(client_for, manager, project, media_root, run_on_commit):
    # given an item and a predictions file naming it and one that does not exist
    AudioItemFactory(project=project, external_id="a")
    text = jsonl(
        {"external_id": "a", "clip_scores": {"scene": {"park": 1.0}}}, {"external_id": "zz"}
    )
    # when a manager uploads it (tasks run eagerly in unit tests)
    with run_on_commit(execute=True):
        response = _upload(client_for(manager), project.pk, text, "predictions", model_name="m")
    # then the job is accepted and its report names the bad row
    assert response.status_code == 202, response.content
    job = client_for(manager).get(f"/api/imports/{response.json()['id']}/").json()
    assert job["state"] == "failed"
    assert job["progress"] == {"done": 2, "total": 2}
    assert job["report"]["errors"] == [
        {"row": 2, "field": "external_id", "reason": "no item of this project matches 'zz'"}
    ]
    assert {"rows", "created", "updated", "unchanged", "errors", "unmapped"} <= set(job["report"])
    listed = client_for(manager).get(f"/api/projects/{project.pk}/imports/").json()["results"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_import_job_succeeds(client_for, manager, project, media_root, run_on_commit):
    AudioItemFactory(project=project, external_id="a")
    text = jsonl({"external_id": "a", "clip_scores": {"scene": {"park": 1.0}}})
    with run_on_commit(execute=True):
        response = _upload(client_for(manager), project.pk, text, "predictions")
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert (job.state, job.report["updated"], job.error) == ("succeeded", 1, "")


def test_import_bad_requests(client_for, manager, project, media_root):
    client = client_for(manager)
    no_file = client.post(
        f"/api/projects/{project.pk}/imports/", {"format": "native"}, format="multipart"
    )
    assert no_file.status_code == 400
    assert "file" in no_file.json()["error"]["fields"]
    bad_format = _upload(client, project.pk, "x", "excel")
    assert "format" in bad_format.json()["error"]["fields"]
    bad_options = client.post(
        f"/api/projects/{project.pk}/imports/",
        {"file": _named("x", "a.csv"), "format": "manifest", "options": "{nope"},
        format="multipart",
    )
    assert bad_options.json()["error"]["fields"] == {
        "options": ["Expecting property name enclosed in double quotes"]
    }
    bad_option = _upload(client, project.pk, "x", "manifest", batch_size=0)
    assert "batch_size" in bad_option.json()["error"]["fields"]
    bad_connection = _upload(client, project.pk, "x", "manifest", connection_id=12345)
    assert "options.connection_id" in bad_connection.json()["error"]["fields"]
    assert not ImportJob.objects.exists()


def test_export_job_and_download(client_for, manager, project, media_root, run_on_commit):
    item = AudioItemFactory(project=project, external_id="a")
    annotation = AnnotationFactory(item=item, state="submitted", clip_labels={"scene": ["park"]})
    SegmentFactory(annotation=annotation, start_s=1.0, end_s=2.0)
    client = client_for(manager)
    with run_on_commit(execute=True):
        response = client.post(
            f"/api/projects/{project.pk}/exports/", {"format": "csv"}, format="json"
        )
    assert response.status_code == 202, response.content
    body = client.get(f"/api/exports/{response.json()['id']}/").json()
    assert body["state"] == "succeeded"
    assert body["download_url"] == f"/api/exports/{body['id']}/download/"
    assert body["progress"]["done"] == 1
    download = client.get(body["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv"
    assert "attachment" in download["Content-Disposition"]
    text = b"".join(download.streaming_content).decode()
    assert text.splitlines()[1].startswith("a,")
    assert len(client.get(f"/api/projects/{project.pk}/exports/").json()["results"]) == 1


def test_export_bad_requests(client_for, manager, project, other_project_version):
    client = client_for(manager)
    url = f"/api/projects/{project.pk}/exports/"
    assert "format" in client.post(url, {"format": "xlsx"}, format="json").json()["error"]["fields"]
    response = client.post(url, {"format": "csv", "source": "predictions"}, format="json")
    assert "model_version" in response.json()["error"]["fields"]
    response = client.post(
        url,
        {"format": "csv", "source": "predictions", "model_version": other_project_version.pk},
        format="json",
    )
    assert "model_version" in response.json()["error"]["fields"]
    response = client.post(url, {"format": "csv", "filters": {"colour": "red"}}, format="json")
    assert "filters.colour" in response.json()["error"]["fields"]
    assert not ExportJob.objects.exists()


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run what the request enqueued after commit (unit tests run tasks eagerly)."""
    return django_capture_on_commit_callbacks


@pytest.fixture
def other_project_version(db):
    from backend.predictions.models import ModelVersion
    from tests.factories import ProjectFactory

    return ModelVersion.objects.create(project=ProjectFactory(), version=1, kind="x")


def test_a_failed_export_cannot_be_downloaded(client_for, manager, project):
    job = ExportJob.objects.create(project=project, format="csv", state="failed", error="boom")
    response = client_for(manager).get(f"/api/exports/{job.pk}/download/")
    assert response.status_code == 409


def test_jobs_of_other_projects_are_not_found(client_for, manager, outsider, project):
    job = ExportJob.objects.create(project=project, format="csv")
    assert client_for(outsider).get(f"/api/exports/{job.pk}/").status_code == 404
    assert client_for(manager).get("/api/imports/999999/").status_code == 404


def test_commands_round_trip(project, manager, tmp_path, empty_project):
    item = AudioItemFactory(project=project, external_id="a")
    AnnotationFactory(
        item=item, annotator=manager, state="submitted", clip_labels={"scene": ["park"]}
    )
    out = tmp_path / "p.jsonl"
    call_command("earmark_export", str(project.pk), str(out), "--format", "native")
    stdout = io.StringIO()
    call_command(
        "earmark_import",
        str(empty_project.pk),
        str(out),
        "--format",
        "native",
        "--options",
        '{"check_files": false}',
        stdout=stdout,
    )
    assert '"created": 1' in stdout.getvalue()
    assert Annotation.objects.filter(item__project=empty_project).count() == 1
    with pytest.raises(CommandError, match="rows rejected"):
        call_command(
            "earmark_import",
            str(empty_project.pk),
            str(out),
            "--format",
            "manifest",
            stdout=io.StringIO(),
        )
    with pytest.raises(CommandError, match="no project"):
        call_command("earmark_export", "999999", str(out), "--format", "csv")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_jobs_run_in_a_real_worker(default_worker, not_eager, client_for, manager, project):
    # given an annotated item and a predictions file
    item = AudioItemFactory(project=project, external_id="a")
    AnnotationFactory(item=item, state="submitted", clip_labels={"scene": ["park"]})
    client = client_for(manager)
    # when both jobs are created, the API answers at once and the worker does the work
    imp = _upload(
        client, project.pk, jsonl({"external_id": "a", "uncertainty": 0.5}), "predictions"
    )
    exp = client.post(f"/api/projects/{project.pk}/exports/", {"format": "native"}, format="json")
    assert (imp.status_code, exp.status_code) == (202, 202)
    assert imp.json()["state"] == "queued"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        states = {ImportJob.objects.get().state, ExportJob.objects.get().state}
        if states <= {"succeeded", "failed"}:
            break
        time.sleep(0.2)
    assert states == {"succeeded"}, (ImportJob.objects.get().error, ExportJob.objects.get().error)
    lines = b"".join(
        client.get(f"/api/exports/{exp.json()['id']}/download/").streaming_content
    ).splitlines()
    assert json.loads(lines[-1])["external_id"] == "a"
    assert "earmark.dataio.import_run[" in default_worker.log()
    assert AudioItem.objects.get().predictions.get().uncertainty == 0.5
