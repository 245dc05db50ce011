"""The agreement refresh through the real broker and a real worker process (not eager mode)."""

from __future__ import annotations

import time

import pytest

from backend.agreement.models import AgreementReport
from backend.projects.models import Membership
from tests.factories import AudioItemFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wait_for_report(project_id: int, submitted: int, timeout_s: float = 90) -> AgreementReport:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        report = AgreementReport.objects.filter(project_id=project_id).first()
        if report is not None and report.submitted_count >= submitted and report.computed_at:
            return report
        time.sleep(0.2)
    raise AssertionError(f"no report reflecting {submitted} submissions after {timeout_s} s")


def test_submissions_are_turned_into_a_report_by_the_worker(
    default_worker, not_eager, client_for, project
):
    # given two annotators who disagree on one item of a project that wants two annotations
    project.annotations_per_item = 2
    project.save(update_fields=["annotations_per_item"])
    item = AudioItemFactory(project=project)
    people = [UserFactory() for _ in range(2)]
    for person, scene in zip(people, ["park", "street"], strict=True):
        MembershipFactory(project=project, user=person, role=Membership.Role.ANNOTATOR)
        client = client_for(person)
        draft = client.post(f"/api/items/{item.pk}/annotations/",
                            {"clip_labels": {"scene": [scene]}}, format="json").json()  # fmt: skip
        # when each submits
        response = client.post(f"/api/annotations/{draft['id']}/submit/",
                               {"version": draft["version"]}, format="json")  # fmt: skip
        assert response.status_code == 200, response.json()
    # then the worker process computes the report (the second submission may fall inside the
    # first refresh's debounce window; reading the report asks for the missing refresh)
    _wait_for_report(project.pk, 1)
    manager = UserFactory()
    MembershipFactory(project=project, user=manager, role=Membership.Role.MANAGER)
    AgreementReport.objects.filter(project=project).update(started_at=None)
    client_for(manager).get(f"/api/projects/{project.pk}/agreement/")
    report = _wait_for_report(project.pk, 2)
    assert report.report["disputed_items"][0]["item_id"] == item.pk
    assert "earmark.agreement.refresh[" in default_worker.log()
