from django.contrib import admin

from backend.annotations.models import Annotation, Assignment, Review, Segment


class SegmentInline(admin.TabularInline[Segment, Annotation]):
    model = Segment
    extra = 0


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin[Annotation]):
    list_display = [
        "id",
        "item",
        "annotator",
        "state",
        "review_state",
        "is_reference",
        "lease_expires_at",
        "version",
        "updated_at",
    ]
    list_filter = ["state", "review_state", "is_reference"]
    raw_id_fields = ["item", "annotator"]
    inlines = [SegmentInline]


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin[Segment]):
    list_display = ["id", "annotation", "label", "start_s", "end_s"]
    raw_id_fields = ["annotation"]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin[Review]):
    list_display = ["id", "annotation", "reviewer", "verdict", "created_at"]
    list_filter = ["verdict"]
    raw_id_fields = ["annotation", "reviewer", "correction"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin[Assignment]):
    list_display = ["id", "project", "item", "user", "assigned_by", "completed_at", "created_at"]
    raw_id_fields = ["project", "item", "user", "assigned_by"]
