"""Create the one PortalSettings row with its defaults, so the portal starts configured."""

from django.db import migrations


def create_default_settings(apps, schema_editor):
    PortalSettings = apps.get_model("portal", "PortalSettings")
    PortalSettings.objects.using(schema_editor.connection.alias).get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial")]

    operations = [
        migrations.RunPython(create_default_settings, migrations.RunPython.noop),
    ]
