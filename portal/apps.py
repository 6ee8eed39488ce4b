from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Customer portal"

    def ready(self) -> None:
        # Django middleware hooks without I/O run on the event loop, not in a thread.
        from portal.async_middleware import run_hooks_on_loop

        run_hooks_on_loop()
