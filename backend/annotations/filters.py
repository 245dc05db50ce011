import django_filters

from backend.annotations.models import Annotation


class AnnotationFilter(django_filters.FilterSet):
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Annotation
        fields = ["state", "item", "annotator"]
