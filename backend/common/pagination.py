from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Cursor pagination on every list: stable and index-backed at a million rows."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"
