from django.urls import path

from backend.web.views import item_page, project_page, projects_page

urlpatterns = [
    path("", projects_page, name="web-projects"),
    path("projects/<int:project_id>/", project_page, name="web-project"),
    path("items/<int:item_id>/", item_page, name="web-item"),
]
