"""Drafts made before leases counted in ``active_annotations`` without a lease. Give each one
a lease that has already run out: the next claim's sweep releases it and the counter drops by
one, which is what the counter would have been with leases (the draft itself is kept)."""

from django.db import migrations
from django.db.models.functions import Now


def expire_old_drafts(apps, schema_editor):
    Annotation = apps.get_model("annotations", "Annotation")
    Annotation.objects.filter(state="draft", lease_expires_at__isnull=True).update(
        lease_expires_at=Now()
    )


class Migration(migrations.Migration):
    dependencies = [("annotations", "0003_leases_review_assignments")]

    operations = [migrations.RunPython(expire_old_drafts, migrations.RunPython.noop)]
