"""Drop the single-column index of AudioItem.project: item_project_state_id and the unique
(project, sha256) and (project, external_id) lead with project_id, so it only cost time on
every insert. Only the index is dropped (by name); Django's own AlterField would rebuild
the foreign key too."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audio", "0005_connection_restrict"),
        ("projects", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="audioitem",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="items",
                        to="projects.project",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "audio_audioitem_project_id_7b6e6057"',
                    reverse_sql='CREATE INDEX "audio_audioitem_project_id_7b6e6057" '
                    'ON "audio_audioitem" ("project_id")',
                ),
            ],
        ),
    ]
