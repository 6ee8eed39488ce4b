from django.apps import AppConfig


class CrmGatewayConfig(AppConfig):
    name = "crm_gateway"
    verbose_name = "1CRM gateway"
