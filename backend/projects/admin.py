from django.contrib import admin

from backend.projects.models import Membership, Project


class MembershipInline(admin.TabularInline[Membership, Project]):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    list_display = ["id", "name", "annotations_per_item", "queue_policy", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["id", "project", "user", "role"]
    list_filter = ["role"]
    raw_id_fields = ["user", "project"]
