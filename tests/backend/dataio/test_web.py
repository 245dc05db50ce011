"""The project page's import form and export button (managers only)."""

from __future__ import annotations

import io

import pytest

from backend.dataio.models import ExportJob, ImportJob
from tests.factories import AudioItemFactory

pytestmark = pytest.mark.django_db


def _file(text: str, name: str) -> io.BytesIO:
    buf = io.BytesIO(text.encode())
    buf.name = name
    return buf


def test_managers_see_the_panel_and_annotators_do_not(client, manager, annotator, project):
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'data-testid="import-form"' in page
    assert 'data-testid="export-button"' in page
    client.force_login(annotator)
    assert 'data-testid="dataio"' not in client.get(f"/projects/{project.pk}/").content.decode()


def test_import_form_queues_a_job_and_shows_its_report(
    client, manager, project, media_root, django_capture_on_commit_callbacks
):
    AudioItemFactory(project=project, external_id="a")
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/projects/{project.pk}/import/",
            {"format": "predictions", "file": _file('{"external_id": "zz"}\n', "p.jsonl")},
        )
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.state == "failed"
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert f"Import {job.pk} queued" in page
    assert "no item of this project matches" in page


def test_export_button_links_the_file(
    client, manager, project, media_root, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/projects/{project.pk}/export/", {"format": "csv", "source": "all"})
    job = ExportJob.objects.get()
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert f'href="/api/exports/{job.pk}/download/"' in page
    assert client.get(f"/api/exports/{job.pk}/download/").status_code == 200


def test_bad_input_is_a_message_not_a_crash(client, manager, project):
    client.force_login(manager)
    response = client.post(f"/projects/{project.pk}/import/", {"format": "native"}, follow=True)
    assert "choose a file to import" in response.content.decode()
    response = client.post(f"/projects/{project.pk}/export/", {"format": "xlsx"}, follow=True)
    assert "unknown export format" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_only_managers_may_post(client, annotator, outsider, project):
    client.force_login(annotator)
    assert client.post(f"/projects/{project.pk}/export/", {"format": "csv"}).status_code == 403
    client.force_login(outsider)
    assert client.post(f"/projects/{project.pk}/import/", {"format": "csv"}).status_code == 404
