from django.contrib import admin
from django.urls import path

from portal import branding, errors, staff_oauth
from portal.views import dashboard, documents, health, invoices, quotes, signin

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Staff sign in with their linked 1CRM user (before the admin, which would 404 these);
    # each answers 404 unless STAFF_ONECRM_SIGNIN is on.
    path("admin/oauth/start/", staff_oauth.start, name="staff-oauth-start"),
    path("admin/oauth/link/", staff_oauth.link, name="staff-oauth-link"),
    path("admin/oauth/callback/", staff_oauth.callback, name="staff-oauth-callback"),
    path("admin/", admin.site.urls),
    # Branding from the staff-edited settings; ?v=<revision> makes them cacheable for good.
    path("branding.css", branding.branding_css, name="branding-css"),
    path("branding/logo", branding.logo, name="branding-logo"),
    # Sign-in paths are fixed: the CRM's redirect URI and e-mailed links point at them.
    path("login/", signin.login_page, name="login"),
    path("login/oauth/", signin.oauth_start, name="login-oauth"),
    path("login/oauth/callback/", signin.oauth_callback, name="login-oauth-callback"),
    path("login/email/", signin.email_request, name="login-email"),
    path("login/email/<str:token>/", signin.email_follow, name="login-email-follow"),
    path("logout/", signin.logout, name="logout"),
    # Customer pages (issue 6). Paths are public: bookmarks and e-mails point at them.
    path("", dashboard.dashboard, name="dashboard"),
    path("invoices/", invoices.invoice_list, name="invoices"),
    path("invoices/<str:invoice_id>/", invoices.invoice_detail, name="invoice"),
    path("invoices/<str:invoice_id>/pdf", invoices.invoice_pdf, name="invoice-pdf"),
    path(
        "invoices/<str:invoice_id>/attachments/<str:note_id>",
        invoices.invoice_attachment,
        name="invoice-attachment",
    ),
    path("quotes/", quotes.quote_list, name="quotes"),
    path("quotes/<str:quote_id>/", quotes.quote_detail, name="quote"),
    path("quotes/<str:quote_id>/pdf", quotes.quote_pdf, name="quote-pdf"),
    path("quotes/<str:quote_id>/accept", quotes.quote_accept, name="quote-accept"),
    path("quotes/<str:quote_id>/decline", quotes.quote_decline, name="quote-decline"),
    path("documents/", documents.document_list, name="documents"),
    path("documents/<str:document_id>/", documents.document_detail, name="document"),
    path(
        "documents/<str:document_id>/download",
        documents.document_download,
        name="document-download",
    ),
]
