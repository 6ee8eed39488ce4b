"""The shell in a real browser (Debian's Chromium): the CSP holds with nothing blocked,
the layout fits 360 px, keyboard users get the skip link and a visible focus, htmx runs
with the safe configuration, and a CRM failure inside a widget lands in the alerts."""

from __future__ import annotations

import pytest

from tests.portal_server import portal_env, start_portal

pytestmark = pytest.mark.browser

STAFF_PASSWORD = "a-staff-password-for-the-browser-test"


@pytest.fixture(scope="module")
def shell_portal(tmp_path_factory):
    env = portal_env(
        tmp_path_factory.mktemp("shell"),
        "http://127.0.0.1:9/1crm/api.php",  # these pages never call it
        DJANGO_SETTINGS_MODULE="tests.shell.browser_settings",
    )
    server = start_portal(
        env,
        setup="from django.contrib.auth import get_user_model; "
        "get_user_model().objects.create_superuser('staff', 's@example.com', "
        f"{STAFF_PASSWORD!r})",
    )
    yield server
    server.stop()


@pytest.fixture
def shell_server(shell_portal) -> str:
    return shell_portal.url


@pytest.fixture
def browser(chromium):
    """The session's shared Chromium (tests/conftest.py)."""
    return chromium


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 360, "height": 740})
    tab = context.new_page()
    tab.problems = []
    tab.on(
        "console",
        lambda message: (
            tab.problems.append(message.text) if message.type in {"error", "warning"} else None
        ),
    )
    tab.on("pageerror", lambda error: tab.problems.append(str(error)))
    yield tab
    context.close()


def contrast(foreground: str, background: str) -> float:
    def luminance(rgb: str) -> float:
        parts = [int(x) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
        channels = [p / 255 for p in parts]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted([luminance(foreground), luminance(background)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_csp_holds_htmx_is_safe_and_the_layout_fits_360px(page, shell_server):
    page.goto(f"{shell_server}/__test__/htmx/")
    page.wait_for_function("window.htmx !== undefined")
    assert page.problems == [], page.problems  # a CSP refusal would be logged here
    config = page.evaluate(
        "({eval: htmx.config.allowEval, styles: htmx.config.includeIndicatorStyles,"
        " self: htmx.config.selfRequestsOnly})"
    )
    assert config == {"eval": False, "styles": False, "self": True}
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    header = page.locator(".site-header")
    ratio = contrast(
        header.evaluate("e => getComputedStyle(e).color"),
        header.evaluate("e => getComputedStyle(e).backgroundColor"),
    )
    assert ratio >= 4.5
    # The branding stylesheet (a view, not inline) applied the primary colour.
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(31, 95, 168)"


def test_keyboard_skip_link_and_visible_focus(page, shell_server):
    page.goto(f"{shell_server}/__test__/htmx/")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert skip.evaluate("e => e === document.activeElement")
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0  # on screen once focused
    assert skip.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Load"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"


def test_a_crm_failure_in_a_widget_lands_in_the_alerts_with_a_retry(page, shell_server):
    page.goto(f"{shell_server}/__test__/htmx/")
    page.wait_for_function("window.htmx !== undefined")
    page.get_by_role("button", name="Load").click()
    alert = page.locator("#portal-alerts .error-box")
    alert.wait_for()
    assert "not reachable" in alert.inner_text()
    assert page.locator("#widget").inner_text() == "Nothing yet."  # the page stays
    assert alert.locator("a.button").get_attribute("href") == "/__test__/htmx/"
    assert [p for p in page.problems if "Content Security Policy" in p] == []


def test_print_hides_navigation_and_controls(page, shell_server):
    page.goto(f"{shell_server}/__test__/htmx/")
    page.emulate_media(media="print")
    assert page.locator(".site-nav").evaluate("e => getComputedStyle(e).display") == "none"
    assert page.locator(".account__signout").evaluate("e => getComputedStyle(e).display") == "none"
    assert page.locator("main h1").is_visible()


ADMIN_PAGES = [
    "/admin/portal/portalsettings/1/change/",
    "/admin/portal/contactaccess/",
    "/admin/portal/activityevent/",
    "/admin/portal/portalsettings/test-connection/",
]


def test_admin_pages_run_under_the_csp_without_unsafe_inline(page, shell_server):
    page.goto(f"{shell_server}/admin/login/?next=/admin/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{shell_server}/admin/")
    for path in ADMIN_PAGES:
        page.goto(f"{shell_server}{path}")
        page.wait_for_load_state("load")
        assert page.problems == [], (path, page.problems)
        assert page.locator("#content").is_visible()
    # The admin's own scripts ran (the CSP let them load).
    page.goto(f"{shell_server}/admin/portal/portalsettings/1/change/")
    assert page.evaluate("typeof django !== 'undefined' && typeof django.jQuery === 'function'")


ACTIVITY = [
    ("sign_in", "", ""),
    ("pdf_download", "Invoice", "4f0c1a2e-7d1b-4c55-9a61-3b2d8e9f0a11"),
    ("document_download", "Document", "9b7e2c41-1f3a-4d2e-8c5b-6a0f1e2d3c4b"),
    ("quote_accepted", "Quote", "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"),
    ("sign_in_failed", "", ""),
    ("sign_out", "", ""),
]


def test_staff_pages_look_right_at_desktop_width(chromium, shell_portal, shell_server):
    """Screenshots of the settings page and the activity log (the README shows them)."""
    from tests.browser.conftest import SCREENSHOTS

    events = "; ".join(
        "ActivityEvent.objects.create(kind={!r}, contact_id='e0d7c00c-063e-4691-8d25-774df0efda09',"
        " record_model={!r}, record_id={!r}, ip='203.0.113.7', user_agent='Mozilla/5.0')".format(
            *event
        )
        for event in ACTIVITY
    )
    shell_portal.manage("shell", "-c", f"from portal.models import ActivityEvent; {events}")
    context = chromium.new_context(viewport={"width": 1600, "height": 900})
    page = context.new_page()
    page.goto(f"{shell_server}/admin/login/?next=/admin/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{shell_server}/admin/")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{shell_server}/admin/portal/portalsettings/1/change/")
    assert page.locator("#id_primary_color").is_visible()
    page.screenshot(path=SCREENSHOTS / "staff-settings.png", full_page=True)
    page.goto(f"{shell_server}/admin/portal/activityevent/")
    assert page.locator("#result_list tbody tr").count() == len(ACTIVITY)
    page.screenshot(path=SCREENSHOTS / "staff-activity.png", full_page=True)
    context.close()
