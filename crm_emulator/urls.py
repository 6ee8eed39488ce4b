"""Routes of the emulated API (under /1crm/api.php) and of the control API."""

from django.urls import re_path

from crm_emulator import control_views, personal_data, views

API = r"^1crm/api\.php"
SEG = r"[^/]+"


def api(pattern: str, view, **kwargs):
    return re_path(API + pattern + "$", view, kwargs=kwargs or None)


urlpatterns = [
    api(r"/version", views.version),
    api(r"/public_key", views.public_key),
    api(r"/me", views.me),
    api(r"/auth/contact/authorize", views.oauth_authorize, realm="contact"),
    api(r"/auth/user/authorize", views.oauth_authorize, realm="user"),
    api(r"/auth/contact/access_token", views.oauth_token, realm="contact"),
    api(r"/auth/user/access_token", views.oauth_token, realm="user"),
    api(r"/portal/auth", views.portal_auth),
    api(r"/meta/fields/(?P<model>[^/]+)", views.meta_fields),
    api(r"/meta/locale", views.meta_locale),
    api(r"/meta/modules", views.meta_modules),
    api(
        r"/meta/(list_view|sub_panels|detail_view|generic_module_layouts)(/.*)?", views.not_emulated
    ),
    api(r"/data/favorites(/.*)?", views.not_emulated),
    # Personal data (issue 16)
    api(
        r"/data/erase_personal/(?P<model>[^/]+)/(?P<record_id>[^/]+)",
        personal_data.erase_personal,
    ),
    api(r"/data/erase_personal(/.*)?", views.not_emulated),
    api(r"/data/link(/.*)?", views.not_emulated),
    api(r"/data/(?P<model>[^/]+)", views.data_list),
    api(r"/data/(?P<model>[^/]+)/(?P<record_id>[^/]+)", views.data_record),
    api(r"/data/(?P<model>[^/]+)/(?P<record_id>[^/]+)/(?P<link>[^/]+)", views.data_related),
    api(
        r"/data/(?P<model>[^/]+)/(?P<record_id>[^/]+)/(?P<link>[^/]+)/(?P<related_id>[^/]+)",
        views.data_unlink,
    ),
    api(r"/tally/(?P<model>[^/]+)/(?P<record_id>[^/]+)", views.tally),
    api(
        r"/printer/pdf/personal/(?P<model>[^/]+)/(?P<record_id>[^/]+)",
        personal_data.print_personal,
    ),
    api(r"/printer/pdf/personal(/.*)?", views.not_emulated),
    api(r"/printer/pdf/(?P<model>[^/]+)/(?P<record_id>[^/]+)", views.printer_pdf),
    api(r"/files/upload", views.file_upload),
    api(r"/files/upload/base64", views.file_upload_base64),
    api(r"/files/download/(?P<model>[^/]+)/(?P<record_id>[^/]+)", views.file_download),
    api(r"/files/info/(?P<model>[^/]+)/(?P<record_id>[^/]+)", views.file_info),
    api(r"/files/temp/(?P<token>[^/]+)", views.file_temp),
    api(r"/webhooks", views.webhook_list),
    api(r"/webhooks/(?P<webhook_id>[^/]+)", views.webhook_detail),
    api(r"/(audit|reports|calendar|layouts)(/.*)?", views.not_emulated),
    re_path(r"^__emulator__/reset$", control_views.reset),
    re_path(r"^__emulator__/switches$", control_views.switches),
    re_path(r"^__emulator__/profiles$", control_views.profiles_view),
    re_path(r"^__emulator__/faults$", control_views.faults),
    re_path(r"^__emulator__/requests$", control_views.requests_log),
    re_path(r"^__emulator__/clients$", control_views.clients),
    re_path(r"^__emulator__/deliveries$", control_views.deliveries),
]
