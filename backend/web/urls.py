from django.urls import path

from backend.web.dashboard import project_dashboard_page
from backend.web.dataio import dataio_export_view, dataio_import_view
from backend.web.review import review_queue_page, review_verdict_view
from backend.web.training import queue_order_view, training_cancel_view, training_start_view
from backend.web.views import (
    item_annotate_page,
    item_page,
    project_annotate_page,
    project_page,
    projects_page,
)

urlpatterns = [
    path("", projects_page, name="web-projects"),
    path("projects/<int:project_id>/", project_page, name="web-project"),
    path("projects/<int:project_id>/annotate/", project_annotate_page, name="web-project-annotate"),
    path("projects/<int:project_id>/dashboard/", project_dashboard_page, name="web-dashboard"),
    path("projects/<int:project_id>/review/", review_queue_page, name="web-review-queue"),
    path(
        "projects/<int:project_id>/review/<int:annotation_id>/",
        review_verdict_view,
        name="web-review-verdict",
    ),
    path(
        "projects/<int:project_id>/training/start/",
        training_start_view,
        name="web-training-start",
    ),
    path(
        "projects/<int:project_id>/queue-order/",
        queue_order_view,
        name="web-queue-order",
    ),
    path(
        "projects/<int:project_id>/training/<int:run_id>/cancel/",
        training_cancel_view,
        name="web-training-cancel",
    ),
    path("projects/<int:project_id>/import/", dataio_import_view, name="web-project-import"),
    path("projects/<int:project_id>/export/", dataio_export_view, name="web-project-export"),
    path("items/<int:item_id>/", item_page, name="web-item"),
    path("items/<int:item_id>/annotate/", item_annotate_page, name="web-item-annotate"),
]
