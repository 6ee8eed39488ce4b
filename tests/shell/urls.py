"""The portal's URLs plus views that exercise the shell (errors, layout) in tests."""

from types import SimpleNamespace

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path

from crm_gateway import errors as crm_errors
from portal.urls import handler400, handler403, handler404, handler500  # noqa: F401
from portal.urls import urlpatterns as portal_urlpatterns


def signed_in_page(request):
    contact = SimpleNamespace(name="Ada Lovelace", account_name="Analytical Engines Ltd")
    return render(request, "base.html", {"contact": contact, "page_title": "Dashboard"})


async def async_signed_in_page(request):
    contact = SimpleNamespace(name="Ada Lovelace", account_name="Analytical Engines Ltd")
    return render(request, "base.html", {"contact": contact})


def anonymous_page(request):
    return render(request, "base.html")


async def crm_down(request):
    raise crm_errors.CrmConnectionError("connection refused", method="GET", path="/data/Invoice")


def crm_bad_reply(request):
    raise crm_errors.BadReply("not JSON", method="GET", path="/data/Invoice")


async def crm_not_found(request):
    raise crm_errors.NotFound("gone", status=404)


def crm_reauth(request):
    raise crm_errors.ReauthenticationRequired("expired")


HTMX_PAGE = """{% extends "base.html" %}
{% block content %}
<h1>Widgets</h1>
<button type="button" class="button" hx-get="/__test__/crm-down/" hx-target="#widget">Load</button>
<div id="widget">Nothing yet.</div>
<p><a href="/invoices/">A link</a></p>
{% endblock %}"""


def htmx_page(request):
    from django.template import engines

    template = engines["django"].from_string(HTMX_PAGE)
    contact = SimpleNamespace(name="Ada Lovelace", account_name="Analytical Engines Ltd")
    return HttpResponse(template.render({"contact": contact}, request))


def crashes(request):
    raise RuntimeError("secret internal detail")


urlpatterns = [
    path("__test__/page/", signed_in_page),
    path("invoices/", signed_in_page),
    path("__test__/async-page/", async_signed_in_page),
    path("__test__/anonymous/", anonymous_page),
    path("__test__/crm-down/", crm_down),
    path("__test__/crm-bad-reply/", crm_bad_reply),
    path("__test__/crm-not-found/", crm_not_found),
    path("__test__/crm-reauth/", crm_reauth),
    path("__test__/crash/", crashes),
    path("__test__/htmx/", htmx_page),
    *portal_urlpatterns,
]
