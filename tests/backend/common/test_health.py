import pytest

pytestmark = pytest.mark.django_db


def test_health_reports_each_dependency_without_credentials(api):
    response = api.get("/api/health/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "broker", "storage"}
    assert body["checks"]["database"]["ok"] is True


def test_health_is_503_when_the_broker_is_down(api, settings):
    from celery import current_app

    previous = current_app.conf.broker_url
    # nothing listens on port 1
    current_app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = api.get("/api/health/")
    finally:
        current_app.conf.broker_url = previous
    assert response.status_code == 503
    broker = response.json()["checks"]["broker"]
    assert broker["ok"] is False
    assert broker["detail"]
