from django.urls import path

from backend.common.apis import HealthApi

urlpatterns = [path("health/", HealthApi.as_view(), name="health")]
