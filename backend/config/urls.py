from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

api_patterns: list[URLPattern | URLResolver] = [
    path("", include("backend.common.urls")),
    path("", include("backend.users.urls")),
    path("", include("backend.projects.urls")),
    path("", include("backend.audio.urls")),
    path("", include("backend.annotations.urls")),
    path("", include("backend.predictions.urls")),
    path("", include("backend.dataio.urls")),
    path("", include("backend.agreement.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("backend.web.urls")),
]
