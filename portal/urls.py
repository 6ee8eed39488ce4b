from django.contrib import admin
from django.urls import path

from portal import branding, errors, staff_oauth
from portal.views import health

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Staff sign in with their 1CRM user account (before the admin, which would 404 these).
    path("admin/oauth/start/", staff_oauth.start, name="staff-oauth-start"),
    path("admin/oauth/callback/", staff_oauth.callback, name="staff-oauth-callback"),
    path("admin/", admin.site.urls),
    # Branding from the staff-edited settings; ?v=<revision> makes them cacheable for good.
    path("branding.css", branding.branding_css, name="branding-css"),
    path("branding/logo", branding.logo, name="branding-logo"),
]
