"""The top navigation in German, English and French, at 360 px and on a desktop: at most
two rows high (German's eight links took four rows on a phone), and every link reached
with Tab alone, each with a visible focus and a target of at least 24 px (WCAG 2.2 AA).
On a phone the links sit behind a <details> disclosure, opened with Enter, no script.
Screenshots: nav-<language>-phone.png (closed) and nav-<language>-open-phone.png."""

from __future__ import annotations

import pytest

from tests.browser.test_customer_pages import DESKTOP, PHONE, Visit, sign_in

pytestmark = pytest.mark.browser

FOCUSED = """() => {
  const e = document.activeElement;
  const box = e.getBoundingClientRect();
  const style = getComputedStyle(e);
  return {inNav: !!e.closest('.site-nav'), toggle: e.matches('.site-nav__toggle'),
          href: e.href || '', width: box.width, height: box.height,
          outline: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth)};
}"""


def row_height(visit: Visit) -> float:
    """One row of the navigation: the toggle where it shows, else a link."""
    page = visit.page
    toggle = page.locator(".site-nav__toggle")
    first = toggle if toggle.is_visible() else page.locator(".site-nav__link").first
    box = first.bounding_box()
    assert box is not None
    return box["height"]


def tab_through_the_navigation(visit: Visit) -> list[str]:
    """Tab from the top of the page until past the navigation, opening the disclosure
    with Enter on the way; the links that had the focus, in order. Every stop in the
    navigation shows its focus and is at least 24 px each way."""
    page = visit.page
    page.locator("body").focus()
    reached: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if not focused["inNav"]:
            if reached:
                break
            continue
        assert focused["outline"] != "none" and focused["outlineWidth"] >= 2, focused
        assert focused["width"] >= 24 and focused["height"] >= 24, focused
        if focused["toggle"]:
            page.keyboard.press("Enter")
            assert page.locator(".site-nav__menu").get_attribute("open") is not None
        else:
            reached.append(focused["href"])
    return reached


LANGUAGES = {"de": "de-DE", "en": "en-US", "fr": "fr-FR"}


@pytest.mark.parametrize(("viewport", "label"), [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_the_navigation_fits_two_rows_and_takes_the_keyboard_in_every_language(
    chromium, portal_server, demo, viewport, label
):
    signing_in = Visit(chromium, portal_server.url, viewport, label)
    try:
        sign_in(signing_in, demo.main.email)
        cookies = signing_in.context.cookies()
    finally:
        signing_in.close()
    for language, locale in LANGUAGES.items():
        # The browser's language decides (demo.main has made no choice of their own).
        visit = Visit(chromium, portal_server.url, viewport, label, locale=locale)
        visit.context.add_cookies(cookies)
        page = visit.page
        try:
            page.goto(f"{visit.url}/")
            assert page.locator("html").get_attribute("lang") == language
            links = page.locator(".site-nav__link").evaluate_all("as => as.map(a => a.href)")
            assert len(links) >= 6, links  # the dashboard, the sections, the profile
            nav = page.locator(".site-nav").bounding_box()
            assert nav is not None
            row = row_height(visit)
            # Two rows and the gap between them at most.
            assert nav["height"] <= 2 * row + 8, (language, label, nav["height"], row)
            toggle_shown = page.locator(".site-nav__toggle").is_visible()
            assert toggle_shown is (label == "phone"), language
            visit.check_page(f"navigation ({language})")
            visit.screenshot(f"nav-{language}")

            assert tab_through_the_navigation(visit) == links, language
            if label == "phone":  # open now: every link shown, and still axe clean
                for link in page.locator(".site-nav__link").all():
                    assert link.is_visible()
                visit.check_page(f"navigation open ({language})")
                visit.screenshot(f"nav-{language}-open")
        finally:
            visit.close()
