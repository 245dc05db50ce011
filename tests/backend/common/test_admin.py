import pytest
from django.apps import apps
from django.contrib import admin

from tests.factories import AnnotationFactory, SegmentFactory, UserFactory

pytestmark = pytest.mark.django_db

OUR_APPS = {"users", "projects", "audio", "annotations", "predictions"}


def test_every_model_of_ours_is_in_the_admin():
    ours = {m for m in apps.get_models() if m._meta.app_label in OUR_APPS}
    assert ours <= set(admin.site._registry)


def test_admin_change_lists_open(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    SegmentFactory(annotation=AnnotationFactory())
    client.force_login(staff)
    for model in admin.site._registry:
        meta = model._meta
        url = f"/admin/{meta.app_label}/{meta.model_name}/"
        assert client.get(url).status_code == 200, url
