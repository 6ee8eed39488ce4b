from django.apps import AppConfig


class CrmEmulatorConfig(AppConfig):
    name = "crm_emulator"
    verbose_name = "1CRM emulator"
