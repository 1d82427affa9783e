"""Tasks of failed instances go on hold (the engine does so from now on when an instance
fails, and makes them pending again when it is retried)."""

from django.db import migrations


def hold(apps, schema_editor):
    task_model = apps.get_model("workflows_app", "HumanTaskModel")
    db = schema_editor.connection.alias
    task_model.objects.using(db).filter(status="pending", instance__status="failed").update(
        status="on_hold"
    )


def release(apps, schema_editor):
    task_model = apps.get_model("workflows_app", "HumanTaskModel")
    db = schema_editor.connection.alias
    task_model.objects.using(db).filter(status="on_hold").update(status="pending")


class Migration(migrations.Migration):
    dependencies = [("workflows_app", "0002_task_activity_and_permissions")]

    operations = [migrations.RunPython(hold, release, elidable=True)]
