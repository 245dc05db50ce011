import pytest
from celery import current_app

pytestmark = pytest.mark.django_db


def test_health_reports_each_dependency_without_credentials(api):
    response = api.get("/api/health/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "broker", "storage"}
    assert body["checks"]["database"]["ok"] is True


def test_health_is_503_when_the_broker_is_down(api):
    # Celery prefers the CELERY_BROKER_URL variable over broker_url (CI sets it), so point
    # the write URL, which the health check connects with, at a port where nothing listens.
    current_app.conf.broker_write_url = "redis://127.0.0.1:1/0"
    try:
        response = api.get("/api/health/")
    finally:
        current_app.conf.broker_write_url = None
    assert response.status_code == 503
    broker = response.json()["checks"]["broker"]
    assert broker["ok"] is False
    assert broker["detail"]
