"""The portal's own deploy checks (`manage.py check --deploy`, run by CI)."""

from django.apps import apps
from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def emulator_not_installed(app_configs, **kwargs) -> list[Warning]:
    """The 1CRM emulator is a development tool (crm_emulator/settings.py adds it): a
    deployment that installs it, or its database, runs a fake CRM beside the portal."""
    found = []
    if apps.is_installed("crm_emulator"):
        found.append("crm_emulator is in INSTALLED_APPS")
    if "emulator" in settings.DATABASES:
        found.append("DATABASES has an 'emulator' alias")
    if any(router_path.startswith("crm_emulator.") for router_path in settings.DATABASE_ROUTERS):
        found.append("DATABASE_ROUTERS routes to the emulator")
    if not found:
        return []
    return [
        Warning(
            f"The 1CRM emulator is configured: {'; '.join(found)}.",
            hint="Deploy with DJANGO_SETTINGS_MODULE=portal.settings; the emulator's "
            "settings (crm_emulator.settings) are for the demo and the tests.",
            id="portal.W001",
        )
    ]
