from django.urls import path

from crm_emulator import views

urlpatterns = [
    path("1crm/api.php/version", views.version),
    path("__emulator__/reset", views.control_reset),
]
