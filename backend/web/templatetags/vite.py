"""Template tags that put the Vite build's hashed files into pages."""

from __future__ import annotations

import json
from functools import cache

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

ENTRY = "src/main.ts"


@cache
def _manifest() -> dict[str, dict[str, object]]:
    path = settings.FRONTEND_DIST / ".vite" / "manifest.json"
    if not path.exists():
        return {}
    data: dict[str, dict[str, object]] = json.loads(path.read_text())
    return data


@register.simple_tag
def vite_entry() -> SafeString:
    entry = _manifest().get(ENTRY)
    if entry is None:
        return format_html(
            '<p class="warning">{}</p>',
            "The frontend is not built: run `make run` (or `npm run build` in frontend/).",
        )
    css = entry.get("css", [])
    assert isinstance(css, list)
    links = format_html_join(
        "", '<link rel="stylesheet" href="{}">', ((static(f"frontend/{c}"),) for c in css)
    )
    script = format_html(
        '<script type="module" src="{}"></script>', static(f"frontend/{entry['file']}")
    )
    return format_html("{}{}", links, script)
