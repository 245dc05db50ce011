import pytest

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_lists_the_endpoints(client_for, outsider):
    response = client_for(outsider).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/projects/",
        "/api/projects/{project_id}/items/upload/",
        "/api/items/{item_id}/audio/",
        "/api/items/{item_id}/peaks/",
        "/api/annotations/{annotation_id}/submit/",
        "/api/projects/{project_id}/next-item/",
    ):
        assert path in paths


def test_the_interactive_docs_are_served_without_a_cdn(client_for, outsider):
    response = client_for(outsider).get("/api/docs/")
    assert response.status_code == 200
    assert b"cdn.jsdelivr" not in response.content
