from __future__ import annotations

import pytest
from django.test import Client

from backend.agreement.services import agreement_refresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(items, team, submit):
    scenes = [("park",) * 3, ("park", "park", "street"), ("street", "park", "home")]
    for item, chosen in zip(items, scenes, strict=False):
        for person, scene in zip(team, chosen, strict=True):
            submit(item, person, {"scene": [scene], "tags": ["speech"]}, [("dog", 1.0, 2.0)])
    return items


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_manager_sees_progress_agreement_heatmap_and_disputed_items(manager, project, labelled):
    agreement_refresh(project_id=project.pk)
    response = _client(manager).get(f"/projects/{project.pk}/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    for testid in ("progress-chart", "days-chart", "annotator-table", "agreement-table",
                   "heatmap", "label-bars", "segment-bars", "disputed-table"):  # fmt: skip
        assert f'data-testid="{testid}"' in html, testid
    # the most disputed item links to the compare view
    assert f'href="/items/{labelled[2].pk}/annotate/?compare=1"' in html
    assert html.count('data-testid="annotator-row"') == 3
    assert html.count('data-testid="heat-cell"') == 9
    assert "<script" not in html.split('data-testid="dashboard"')[1]


def test_project_page_links_managers_to_the_dashboard(manager, annotator, project):
    assert (
        'data-testid="open-dashboard"'
        in _client(manager).get(f"/projects/{project.pk}/").content.decode()
    )
    assert (
        'data-testid="open-dashboard"'
        not in _client(annotator).get(f"/projects/{project.pk}/").content.decode()
    )


def test_dashboard_is_refused_to_annotators_and_hidden_from_outsiders(annotator, outsider,
                                                                       project):  # fmt: skip
    assert _client(annotator).get(f"/projects/{project.pk}/dashboard/").status_code == 403
    assert _client(outsider).get(f"/projects/{project.pk}/dashboard/").status_code == 404


def test_empty_project_dashboard_renders(manager, project):
    response = _client(manager).get(f"/projects/{project.pk}/dashboard/")
    assert response.status_code == 200
    assert "No agreement figures yet" in response.content.decode()


def test_annotator_table_compares_each_person_with_the_others_consensus(manager, project,
                                                                       labelled):  # fmt: skip
    agreement_refresh(project_id=project.pk)
    html = _client(manager).get(f"/projects/{project.pk}/dashboard/").content.decode()
    # ann2 against the others' majority: scene on item 0 (park, agreed) and item 1 (the
    # others' park against its street; item 2's others tie), and the three tags on all three
    # items (agreed): 10 of 11; everyone's dog matches the others' merged dog
    ann2 = html.split('data-username="ann2"')[1].split("</tr>")[0]

    def cell(testid: str) -> str:
        return ann2.split(f'data-testid="{testid}"')[1].split(">", 1)[1].split("</td>")[0]

    assert cell("agreement-vs-consensus") == "91 %"
    assert cell("segment-f1-vs-consensus") == "1.00"
    assert cell("agreement-vs-truth") == "\u2013"  # nothing reviewed yet
    # per label, one breakdown per annotator
    assert html.count('data-testid="annotator-labels"') == 3
    assert 'data-label="scene:park"' in html
    assert 'data-label="segment:dog"' in html
