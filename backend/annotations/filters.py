import django_filters
from django.db.models import QuerySet

from backend.annotations.models import Annotation, Assignment
from backend.annotations.selectors import annotations_with_label


class AnnotationFilter(django_filters.FilterSet):
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Annotation
        fields = ["state", "item", "annotator"]


class ReviewQueueFilter(django_filters.FilterSet):
    # A segment label or a clip label.
    label = django_filters.CharFilter(method="_by_label")
    annotator = django_filters.NumberFilter(field_name="annotator_id")
    annotator_username = django_filters.CharFilter(field_name="annotator__username")
    item = django_filters.NumberFilter(field_name="item_id")

    class Meta:
        model = Annotation
        fields = ["annotator", "annotator_username", "item", "label"]

    def _by_label(
        self, queryset: QuerySet[Annotation], name: str, value: str
    ) -> QuerySet[Annotation]:
        return annotations_with_label(queryset, label=value)


class AssignmentFilter(django_filters.FilterSet):
    username = django_filters.CharFilter(field_name="user__username")
    completed = django_filters.BooleanFilter(
        field_name="completed_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = Assignment
        fields = ["user", "item"]
