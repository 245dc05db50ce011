from django.urls import path

from backend.dataio.apis import (
    ExportDetailApi,
    ExportDownloadApi,
    ImportDetailApi,
    ProjectExportsApi,
    ProjectImportsApi,
)

urlpatterns = [
    path("projects/<int:project_id>/imports/", ProjectImportsApi.as_view(), name="project-imports"),
    path("imports/<int:job_id>/", ImportDetailApi.as_view(), name="import-detail"),
    path("projects/<int:project_id>/exports/", ProjectExportsApi.as_view(), name="project-exports"),
    path("exports/<int:job_id>/", ExportDetailApi.as_view(), name="export-detail"),
    path("exports/<int:job_id>/download/", ExportDownloadApi.as_view(), name="export-download"),
]
