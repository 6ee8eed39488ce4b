from django.contrib import admin
from django.urls import URLPattern, path

from portal import branding, errors, staff_oauth
from portal.sections import CASES, DOCUMENTS, INVOICES, QUOTES, Section
from portal.views import (
    cases,
    dashboard,
    health,
    help,
    invoices,
    language,
    profile,
    quotes,
    sections,
    signin,
    statement,
)

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error


def section_urls(section: Section) -> list[URLPattern]:
    """A section's paths, from its declaration: `<key>/` (name: key), `<key>/<id>/`
    (name: `one`), `<id>/pdf` or `<id>/download` when it has them, and
    `<key>/download.zip` (name: `<key>-zip`) when it offers its files as one zip."""
    one = f"{section.key}/<str:record_id>/"
    routes = [
        path(f"{section.key}/", sections.record_list, {"section": section}, name=section.key),
        path(one, sections.record_detail, {"section": section}, name=section.one),
    ]
    if section.bulk:
        name = f"{section.key}-zip"
        routes.append(
            path(
                f"{section.key}/download.zip", sections.record_zip, {"section": section}, name=name
            )
        )
    if section.pdf:
        routes.append(
            path(f"{one}pdf", sections.record_pdf, {"section": section}, name=f"{section.one}-pdf")
        )
    if section.download:
        name = f"{section.one}-download"
        routes.append(
            path(f"{one}download", sections.record_download, {"section": section}, name=name)
        )
    return routes


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
    # The language menu (every page): the contact's choice, kept across sessions and devices.
    path("language/", language.set_language, name="set-language"),
    # Customer pages (issue 6). Paths are public: bookmarks and e-mails point at them.
    path("", dashboard.dashboard, name="dashboard"),
    *section_urls(INVOICES),
    path(
        "invoices/<str:invoice_id>/attachments/<str:note_id>",
        invoices.invoice_attachment,
        name="invoice-attachment",
    ),
    # The statement of account (issue 15); paths are fixed, the period in the query string.
    path("statement/", statement.statement, name="statement"),
    path("statement.pdf", statement.statement_pdf, name="statement-pdf"),
    path("statement.csv", statement.statement_csv, name="statement-csv"),
    *section_urls(QUOTES),
    path("quotes/<str:quote_id>/accept", quotes.quote_accept, name="quote-accept"),
    path("quotes/<str:quote_id>/decline", quotes.quote_decline, name="quote-decline"),
    *section_urls(DOCUMENTS),
    # The contact's own profile and personal data (issue 16); paths are fixed.
    path("profile/", profile.profile, name="profile"),
    path("profile/email/", profile.email_request, name="profile-email"),
    path("profile/email/<str:token>/", profile.email_confirm, name="profile-email-confirm"),
    path("profile/personal-data.pdf", profile.personal_data_pdf, name="personal-data-pdf"),
    path("profile/erasure", profile.erasure, name="profile-erasure"),
    path("profile/activity.json", profile.activity_json, name="profile-activity"),
    # Support cases (issue 14); `new/` before the section's `<id>/`.
    path("cases/new/", cases.case_new, name="case-new"),
    *section_urls(CASES),
    path("cases/<str:case_id>/comment", cases.case_comment, name="case-comment"),
    path("cases/<str:case_id>/close", cases.case_close, name="case-close"),
    path("cases/<str:case_id>/reopen", cases.case_reopen, name="case-reopen"),
    path(
        "cases/<str:case_id>/attachments/<str:note_id>",
        cases.case_attachment,
        name="case-attachment",
    ),
    # The knowledge base (issue 14).
    path("help/", help.help_index, name="help"),
    path("help/suggest", help.help_suggest, name="help-suggest"),
    path("help/articles/<str:article_id>/", help.help_article, name="help-article"),
    path(
        "help/articles/<str:article_id>/attachments/<str:note_id>",
        help.help_attachment,
        name="help-attachment",
    ),
    path("help/<str:category_id>/", help.help_category, name="help-category"),
]
