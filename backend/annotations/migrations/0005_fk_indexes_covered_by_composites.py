"""Drop the single-column indexes of Annotation.item and Annotation.annotator.

annotation_item_state and annotation_item_person lead with item_id, annotation_mine with
annotator_id, so these two only cost time on every insert. Only the indexes are dropped
(by name); Django's own AlterField would also rebuild the foreign keys and drop the partial
unique index on item_id (annotation_one_reference) with them.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEXES = [
    ("annotations_annotation_item_id_d9a88b22", "item_id"),
    ("annotations_annotation_annotator_id_82f398bc", "annotator_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("annotations", "0004_existing_drafts_hold_a_lease"),
        ("audio", "0005_connection_restrict"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="annotation",
                    name="annotator",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="annotations",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="annotation",
                    name="item",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="annotations",
                        to="audio.audioitem",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "annotations_annotation" ("{column}")',
                )
                for name, column in INDEXES
            ],
        ),
    ]
