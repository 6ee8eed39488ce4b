from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Customer portal"

    def ready(self) -> None:
        from portal import checks  # noqa: F401  (registers the deploy checks)


class PortalAdminConfig(admin_apps.AdminConfig):
    """The Django admin, with the portal's own site (portal/admin_site.py)."""

    default = False  # `portal` in INSTALLED_APPS still means PortalConfig
    default_site = "portal.admin_site.PortalAdminSite"
