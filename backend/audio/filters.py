import django_filters

from backend.audio.models import AudioItem


class ItemFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(field_name="original_name", lookup_expr="icontains")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    min_duration_s = django_filters.NumberFilter(field_name="duration_s", lookup_expr="gte")
    max_duration_s = django_filters.NumberFilter(field_name="duration_s", lookup_expr="lte")

    class Meta:
        model = AudioItem
        fields = ["state", "format", "external_id", "sha256"]
