"""`next` only ever leads inside the portal."""

import pytest

from portal.signin.safe_next import safe_next


@pytest.mark.parametrize(
    "value",
    ["/", "/invoices/", "/invoices/?status=overdue&page=2", "/quotes/abc-123/", "/documents/?q=ü"],
)
def test_paths_inside_the_portal_are_kept(value):
    assert safe_next(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "invoices/",
        "/invoices/\r\nSet-Cookie: x=1",
        "/\x00",
        "/login/",
        "/login/oauth/?next=/",
        "/logout/",
        "/" + "a" * 3000,
    ],
)
def test_anything_else_falls_back_to_the_dashboard(value):
    assert safe_next(value) == "/"
