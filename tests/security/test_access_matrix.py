"""Who may open what: every portal route x every actor x every kind of id, in each
data-access mode, against the emulator.

The whole expectation is the one table EXPECTED below. Ids are named from contact A's
point of view: `own` (billed to A), `colleague` (billed to A's colleague on the same
account), `foreign` (contact B's, another account), `missing` (a well-formed id that does
not exist) and `malformed`. Quote decisions are off (the default), so a contact who may
see a quote gets 403 for accept/decline and nothing is ever written.

Besides the table, for every contact actor:
* another account's id and a nonexistent id give byte-identical 404 pages (once the
  per-response nonce and CSRF token are masked), malformed ids too;
* no call with the portal's staff credential names an id the actor may not see (in the
  `staff` data-access mode the checks themselves are, by necessity, made with the staff
  credential: the read of the record and, for a document, its two link lists asking only
  for ids; no bytes, tally, write or other call names it even there; SECURITY.md says
  the same, `STAFF_CHECKING_CALLS`);
* no record is written.
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from dataclasses import dataclass
from urllib.parse import parse_qs, quote_plus

import pytest
from django.test import AsyncClient
from django.urls import URLPattern, URLResolver, reverse

from portal import urls as portal_urls
from portal.models import ContactAccess
from portal.sections import SECTIONS, Section
from tests.emulator_server import ROOT
from tests.pages.conftest import stable_bytes
from tests.security.conftest import World, crm_log, sign_in_via_crm
from tests.signin.crm_signin import register_test_redirect_uri

pytestmark = pytest.mark.django_db(transaction=True)

CONCURRENCY = 4
ACTORS = ("anonymous", "contact", "colleague", "other", "blocked", "staff")
KINDS = ("own", "colleague", "foreign", "missing", "malformed")

# The cells of every section's list, record, PDF and file routes are derived from the
# section declarations (portal/sections): a new section is covered without a line here.
# By hand: the pages that are not a section's, and the sections' named extras.
# route             ids                 anonymous  contact  colleague  other  blocked  staff
EXPECTED_TABLE = """
dashboard           -                   login      200      200        200    login    login
admin               -                   adm-login  adm-login adm-login adm-login adm-login 200
admin-settings      -                   adm-login  adm-login adm-login adm-login adm-login 200
admin-contacts      -                   adm-login  adm-login adm-login adm-login adm-login 200
admin-find          -                   adm-login  adm-login adm-login adm-login adm-login 200
admin-activity      -                   adm-login  adm-login adm-login adm-login adm-login 200
invoice-attachment  own                 login      file     file       404    login    login
invoice-attachment  colleague           login      file     file       404    login    login
invoice-attachment  foreign             login      404      404        file   login    login
invoice-attachment  missing             login      404      404        404    login    login
invoice-attachment  malformed           login      404      404        404    login    login
invoice-attachment  own+foreign-note    login      404      404        404    login    login
invoice-attachment  foreign+own-note    login      404      404        404    login    login
quote-accept        own                 login      403      403        404    login    login
quote-accept        colleague           login      403      403        404    login    login
quote-accept        foreign             login      404      404        403    login    login
quote-accept        missing             login      404      404        404    login    login
quote-accept        malformed           login      404      404        404    login    login
quote-decline       own                 login      403      403        404    login    login
quote-decline       colleague           login      403      403        404    login    login
quote-decline       foreign             login      404      404        403    login    login
quote-decline       missing             login      404      404        404    login    login
quote-decline       malformed           login      404      404        404    login    login
profile             -                   login      200      200        200    login    login
profile-save        -                   login      302      302        302    login    login
profile-email       -                   login      400      400        400    login    login
profile-erasure     -                   login      200      200        200    login    login
personal-data-pdf   -                   login      pdf      pdf        pdf    login    login
profile-activity    -                   login      200      200        200    login    login
statement           -                   login      200      200        200    login    login
statement~htmx      -                   hx-login   200      200        200    hx-login hx-login
statement-pdf       -                   login      pdf      pdf        pdf    login    login
statement-csv       -                   login      file     file       file   login    login
case-attachment     own                 login      file     file       404    login    login
case-attachment     colleague           login      file     file       404    login    login
case-attachment     foreign             login      404      404        file   login    login
case-attachment     missing             login      404      404        404    login    login
case-attachment     malformed           login      404      404        404    login    login
case-attachment     own+foreign-note    login      404      404        404    login    login
case-attachment     foreign+own-note    login      404      404        404    login    login
case-comment        own                 login      400      400        404    login    login
case-comment        colleague           login      400      400        404    login    login
case-comment        foreign             login      404      404        400    login    login
case-comment        missing             login      404      404        404    login    login
case-comment        malformed           login      404      404        404    login    login
case-close          own                 login      403      403        404    login    login
case-close          colleague           login      403      403        404    login    login
case-close          foreign             login      404      404        403    login    login
case-close          missing             login      404      404        404    login    login
case-close          malformed           login      404      404        404    login    login
case-reopen         own                 login      403      403        404    login    login
case-reopen         colleague           login      403      403        404    login    login
case-reopen         foreign             login      404      404        403    login    login
case-reopen         missing             login      404      404        404    login    login
case-reopen         malformed           login      404      404        404    login    login
case-new            -                   login      200      200        200    login    login
help                -                   login      200      200        200    login    login
help-article        own                 login      200      200        200    login    login
help-article        colleague           login      200      200        200    login    login
help-article        foreign             login      404      404        404    login    login
help-article        missing             login      404      404        404    login    login
help-article        malformed           login      404      404        404    login    login
help-category       own                 login      200      200        200    login    login
help-category       colleague           login      200      200        200    login    login
help-category       foreign             login      404      404        404    login    login
help-category       missing             login      404      404        404    login    login
help-category       malformed           login      404      404        404    login    login
help-attachment     own                 login      file     file       file   login    login
help-attachment     colleague           login      file     file       file   login    login
help-attachment     foreign             login      404      404        404    login    login
help-attachment     missing             login      404      404        404    login    login
help-attachment     malformed           login      404      404        404    login    login
"""


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {id} for the record, {note} for an attachment's note, {term}: see below
    model: str = ""
    # A list's query, not a record's path: {term} is what the list's search finds the
    # kind's record by (World.terms), and {id} its id in parameters the list ignores.
    search: bool = False


def _path(name: str, *placeholders: str) -> str:
    """The route's path from its URL name, with `{id}` / `{note}` where the ids go (the
    malformed id is put in as it is, not quoted again by reverse())."""
    path = reverse(name, args=[f"ID{n}" for n in range(len(placeholders))])
    for n, placeholder in enumerate(placeholders):
        path = path.replace(f"ID{n}", "{" + placeholder + "}")
    return path


def section_rows(sections: tuple[Section, ...]) -> tuple[dict[str, Route], list[str]]:
    """Each section's routes and table rows, from its declaration: its list (200 for
    every contact), and its record, PDF and file routes, where a contact reaches their
    own and their colleague's records (`answer`) and nothing else (404)."""
    routes: dict[str, Route] = {}
    lines: list[str] = []

    def record_rows(route: str, answer: str) -> None:
        out = "hx-login" if route.endswith("~htmx") else "login"  # signed out or blocked
        for kind, (mine, colleague, other) in {
            "own": (answer, answer, "404"),
            "colleague": (answer, answer, "404"),
            "foreign": ("404", "404", answer),
            "missing": ("404", "404", "404"),
            "malformed": ("404", "404", "404"),
        }.items():
            lines.append(f"{route} {kind} {out} {mine} {colleague} {other} {out} {out}")

    for section in sections:
        routes[section.key] = Route("GET", _path(section.key))
        lines.append(f"{section.key} - login 200 200 200 login login")
        lines.append(f"{section.key}~htmx - hx-login 200 200 200 hx-login hx-login")
        model = section.model.MODEL
        routes[section.one] = Route("GET", _path(section.one, "id"), model)
        record_rows(section.one, "200")
        record_rows(f"{section.one}~htmx", "200")
        if section.pdf:
            pdf = _path(f"{section.one}-pdf", "id")
            routes[f"{section.one}-pdf"] = Route("GET", pdf, model)
            routes[f"{section.one}-pdf-dl"] = Route("GET", f"{pdf}?download=1", model)
            record_rows(f"{section.one}-pdf", "pdf")
            record_rows(f"{section.one}-pdf-dl", "pdf")
        if section.download:
            file = _path(f"{section.one}-download", "id")
            routes[f"{section.one}-download"] = Route("GET", file, model)
            routes[f"{section.one}-inline"] = Route("GET", f"{file}?inline=1", model)
            record_rows(f"{section.one}-download", "file")
            record_rows(f"{section.one}-inline", "file")
        if section.bulk:
            # The zip of a list: whatever the query says (a search for another account's
            # record, ids in any parameter), only the contact's own records are in it,
            # and nothing of another account is fetched (the staff-call check below).
            name = f"{section.key}-zip"
            zip_url = f"{_path(name)}?q={{term}}&id={{id}}&record={{id}}"
            routes[name] = Route("GET", zip_url, model, search=True)
            record_rows(name, "zip")
    return routes, lines


SECTION_ROUTES, SECTION_ROWS = section_rows(SECTIONS)
ROUTES = {
    "dashboard": Route("GET", _path("dashboard")),
    "admin": Route("GET", "/admin/"),
    "admin-settings": Route("GET", "/admin/portal/portalsettings/1/change/"),
    "admin-contacts": Route("GET", "/admin/portal/contactaccess/"),
    "admin-find": Route("GET", "/admin/portal/contactaccess/find-contact/"),
    "admin-activity": Route("GET", "/admin/portal/activityevent/"),
    **SECTION_ROUTES,
    "invoice-attachment": Route("GET", _path("invoice-attachment", "id", "note"), "Note"),
    "quote-accept": Route("POST", _path("quote-accept", "id"), "Quote"),
    "quote-decline": Route("POST", _path("quote-decline", "id"), "Quote"),
    # The contact's own profile (issue 16): no id in any path, the session's contact only.
    # The POSTs carry no profile field, no address and no confirmation: nothing is written
    # (the save has nothing to save, the e-mail change is refused, erasure asks first).
    "profile": Route("GET", _path("profile")),
    "profile-save": Route("POST", _path("profile")),
    "profile-email": Route("POST", _path("profile-email")),
    "profile-erasure": Route("POST", _path("profile-erasure")),
    "personal-data-pdf": Route("GET", _path("personal-data-pdf")),
    "profile-activity": Route("GET", _path("profile-activity")),
    # The statement of account (issue 15): the session's account only, no id in any path.
    "statement": Route("GET", _path("statement")),
    "statement-pdf": Route("GET", _path("statement-pdf")),
    "statement-csv": Route("GET", _path("statement-csv")),
    # Support cases' named extras (issue 14); the list and the case page are derived.
    "case-attachment": Route("GET", _path("case-attachment", "id", "note"), "CaseNote"),
    "case-comment": Route("POST", _path("case-comment", "id"), "aCase"),
    "case-close": Route("POST", _path("case-close", "id"), "aCase"),
    "case-reopen": Route("POST", _path("case-reopen", "id"), "aCase"),
    "case-new": Route("GET", _path("case-new")),
    # The knowledge base: signed-in contacts only by default, published articles only.
    "help": Route("GET", _path("help")),
    "help-article": Route("GET", _path("help-article", "id"), "KBArticle"),
    "help-category": Route("GET", _path("help-category", "id"), "KBCategory"),
    "help-attachment": Route("GET", _path("help-attachment", "id", "note"), "KBFile"),
}


def parse_table(text: str) -> dict[tuple[str, str, str], str]:
    """{(route, ids, actor): expected outcome} from EXPECTED_TABLE."""
    cells = {}
    for line in text.strip().splitlines():
        route, ids, *answers = line.split()
        assert len(answers) == len(ACTORS), line
        base = route.split("~")[0]
        assert base in ROUTES, route
        for actor, answer in zip(ACTORS, answers, strict=True):
            cells[(route, ids, actor)] = answer
    return cells


EXPECTED = parse_table("\n".join([*SECTION_ROWS, EXPECTED_TABLE.strip()]))


def kind_of(kind: str) -> str:
    return "own" if kind == "-" else kind


def url_for(world: World, route: str, kind: str) -> str:
    spec = ROUTES[route.split("~")[0]]
    if spec.search:
        terms = world.terms[spec.model]
        term = quote_plus(terms.get(kind, terms["missing"]))
        return spec.path.format(term=term, id=world.ids[spec.model][kind])
    if spec.model == "Note":
        invoice_id, note_id = world.attachments[kind]
        return spec.path.format(id=invoice_id, note=note_id)
    if spec.model == "CaseNote":
        case_id, note_id = world.case_files[kind]
        return spec.path.format(id=case_id, note=note_id)
    if spec.model == "KBArticle":
        return spec.path.format(id=world.articles[kind])
    if spec.model == "KBCategory":
        return spec.path.format(id=world.categories[kind])
    if spec.model == "KBFile":
        article_id, note_id = world.article_files[kind]
        return spec.path.format(id=article_id, note=note_id)
    if spec.model:
        return spec.path.format(id=world.ids[spec.model][kind])
    return spec.path


async def outcome(client: AsyncClient, route: str, url: str) -> tuple[str, object]:
    """What the portal answered, as a word of the table, and the response."""
    method = ROUTES[route.split("~")[0]].method
    headers = {"HX-Request": "true"} if route.endswith("~htmx") else {}
    if method == "POST":
        response = await client.post(url, {"reason": "too expensive"}, headers=headers)
    else:
        response = await client.get(url, headers=headers)
    body = b""
    if response.streaming:
        body = b"".join([chunk async for chunk in response.streaming_content])
    else:
        body = response.content
    status = response.status_code
    location = response.get("Location", "")
    if status == 302 and location.startswith("/login/?next="):
        return "login", (response, body)
    if status == 302 and location.startswith("/admin/login/?next="):
        return "adm-login", (response, body)
    if status == 204 and response.get("HX-Redirect", "").startswith("/login/?next="):
        return "hx-login", (response, body)
    is_zip = status == 200 and response.get("Content-Type") == "application/zip"
    if is_zip and response.streaming and zipfile.ZipFile(io.BytesIO(body)).namelist():
        return "zip", (response, body)
    if status == 200 and response.streaming:
        disposition = response["Content-Disposition"]
        is_pdf = response["Content-Type"] == "application/pdf" and body.startswith(b"%PDF-")
        if "-pdf" in route and is_pdf:
            return "pdf", (response, body)
        if disposition.startswith(("attachment;", "inline;")) and body:
            return "file", (response, body)
    return str(status), (response, body)


async def actor_client(actor: str, world: World, crm, django_user_model) -> AsyncClient:
    client = AsyncClient()
    people = {
        "contact": world.a,
        "colleague": world.colleague,
        "other": world.b,
        "blocked": world.blocked,
    }
    if actor in people:
        await sign_in_via_crm(client, crm, people[actor].email)
    if actor == "blocked":
        await ContactAccess.objects.aupdate_or_create(
            contact_id=world.blocked.contact_id, defaults={"blocked": True}
        )
    if actor == "staff":
        user = await django_user_model.objects.acreate_superuser(
            "staff", "staff@example.com", "staff-password-for-tests"
        )
        await client.aforce_login(user)
    return client


# Ids each contact actor may not see: none of them may reach a staff-credential call.
NOT_THEIRS = {
    "contact": ("foreign", "missing"),
    "colleague": ("foreign", "missing"),
    "other": ("own", "colleague", "missing"),
}
# In the staff data-access mode the staff credential is the only one, so the checks
# name the id with it by necessity: the read of the record, and for a document that is not
# billed to the contact's account its two link lists (crm_gateway.gateway's
# _document_is_linked: is the contact's account, or the contact, among the linked ids?).
# Nothing else may name the id. SECURITY.md lists exactly these.
STAFF_CHECKING_CALLS = (
    "GET /data/{model}/{id}",
    "GET /data/Document/{id}/accounts",
    "GET /data/Document/{id}/contacts",
)
CHECKING_READ = re.compile(r"^/data/(Invoice|Quote|Document|Note|aCase)/[^/]+$")
CHECKING_LINK = re.compile(r"^/data/Document/[^/]+/(accounts|contacts)$")


def is_checking_call(entry: dict) -> bool:
    if entry["method"] != "GET":
        return False
    if CHECKING_READ.match(entry["path"]):
        return True
    # The link lists are asked for ids only: nothing of the other account is read.
    fields = parse_qs(entry["query"]).get("fields[]")
    return bool(CHECKING_LINK.match(entry["path"])) and fields == ["id"]


def forbidden_staff_calls(log: list[dict], ids: set[str], mode: str) -> list[dict]:
    bad = []
    for entry in log:
        if entry["credential"] not in {"staff", "user", "basic"}:
            continue
        if not any(i in entry["path"] or i in entry["query"] for i in ids):
            continue
        if mode == "staff" and is_checking_call(entry):
            continue
        bad.append(entry)
    return bad


def test_security_md_names_every_call_the_staff_mode_checks_make():
    """SECURITY.md's promise about staff-credential calls is the one this matrix checks:
    it names each checking call the matrix allows (issue 17, item 11: it once said no
    link call is ever made, while the document check makes two)."""
    text = " ".join((ROOT / "SECURITY.md").read_text().split())
    for call in STAFF_CHECKING_CALLS:
        assert f"`{call}`" in text, call


@pytest.fixture
def matrix_mode(request, crm, settings, world):
    mode = request.param
    settings.ONECRM_DATA_ACCESS = mode
    settings.ONECRM_TIMEOUT = 5.0
    settings.ONECRM_DEADLINE = 10.0
    if mode == "contact_token":
        crm.control("POST", "switches", json={"contact_token_reads_data": True})
    register_test_redirect_uri(crm)
    return mode


FLASH_MESSAGES = re.compile(rb'(<div id="portal-alerts"[^>]*>).*?(</div>)', re.S)


def without_messages(body: bytes) -> bytes:
    """The page without the session's flash messages: cells run concurrently on one client,
    so a POST cell's message ("Nothing was changed.") shows on whichever page comes next."""
    return FLASH_MESSAGES.sub(rb"\1\2", body)


@pytest.mark.parametrize("matrix_mode", ["contact_token", "portal_auth", "staff"], indirect=True)
@pytest.mark.parametrize("actor", ACTORS)
async def test_access_matrix(matrix_mode, actor, crm, world, django_user_model):
    client = await actor_client(actor, world, crm, django_user_model)
    crm.control("DELETE", "requests")
    wrong: list[str] = []
    not_found: dict[str, dict[str, bytes]] = {}
    cells = [
        (route, kind, expected) for (route, kind, who), expected in EXPECTED.items() if who == actor
    ]
    # A few cells at a time: the portal and the emulator wait on each other, not the CPU.
    gate = asyncio.Semaphore(CONCURRENCY)

    async def visit(route: str, kind: str) -> tuple[str, tuple]:
        async with gate:
            return await outcome(client, route, url_for(world, route, kind_of(kind)))

    answers = await asyncio.gather(*(visit(route, kind) for route, kind, _ in cells))
    for (route, kind, expected), (got, (response, body)) in zip(cells, answers, strict=True):
        if got != expected:
            url = url_for(world, route, kind_of(kind))
            wrong.append(f"{route:20} {kind:18} expected {expected:9} got {got}  ({url})")
        if got == "404":
            not_found.setdefault(route, {})[kind] = stable_bytes(without_messages(body))
            assert b"<script>alert(1)" not in body
            assert response["Cache-Control"] == "no-store"
    assert not wrong, f"{actor} in {matrix_mode} mode:\n" + "\n".join(wrong)

    # A 404 says nothing about why: another account's id, no such id, a malformed id.
    # (A zip's 404, "nothing matches", carries its query back to the list; it names no
    # record, and what matched is checked above.)
    for route, pages in not_found.items():
        if ROUTES[route.split("~")[0]].search:
            continue
        assert len(set(pages.values())) == 1, f"{route}: 404 pages differ across {set(pages)}"
    if actor in NOT_THEIRS:
        log = crm_log(crm)
        hidden = world.secret_ids(*[k for k in NOT_THEIRS[actor] if k != "missing"])
        hidden |= {world.ids[model]["missing"] for model in world.ids}
        hidden |= set(world.attachments["missing"]) | set(world.case_files["missing"])
        assert forbidden_staff_calls(log, hidden, matrix_mode) == []
        writes = [e for e in log if e["method"] not in {"GET", "HEAD"}]
        assert [e for e in writes if e["path"].startswith("/data/")] == []
    else:
        # Nobody signed in as a contact: not a single CRM data call was made (staff's
        # settings form reads the CRM's stage options: metadata, with the staff credential).
        data_calls = [
            e
            for e in crm_log(crm)
            if not e["path"].startswith("/auth/")
            and not (
                actor == "staff"
                and e["credential"] == "staff"
                and e["path"] in {"/meta/fields/Invoice", "/meta/fields/Quote"}
            )
        ]
        assert data_calls == [], data_calls


# Rows per data-access mode before the table was derived from the declarations (74 rows
# of 6 actors); the derived table adds the htmx detail and the PDF download of every
# section, so it only grows.
CELLS_BEFORE_DERIVATION = 444


def test_the_matrix_keeps_at_least_its_cells_per_mode():
    assert len(EXPECTED) >= CELLS_BEFORE_DERIVATION
    assert {actor for (_, _, actor) in EXPECTED} == set(ACTORS)
    routes = {route.split("~")[0] for (route, _, _) in EXPECTED}
    assert routes == set(ROUTES)


def test_every_customer_route_is_in_the_matrix():
    """A route with a record id in its path that the matrix does not visit fails here:
    a new section's routes come from its declaration, a new extra needs its rows."""
    with_ids = {
        pattern.name
        for pattern in portal_urls.urlpatterns
        if isinstance(pattern, URLPattern) and "<" in str(pattern.pattern) and pattern.name
    }
    # Tokens, not record ids: the sign-in link's (tests/signin) and the e-mail change
    # link's (tests/pages/test_profile.py).
    signin = {"login-email-follow", "profile-email-confirm"}
    assert with_ids - signin <= set(ROUTES), with_ids - signin - set(ROUTES)
    assert not [p for p in portal_urls.urlpatterns if isinstance(p, URLResolver) and
                "admin" not in str(p.pattern)]  # fmt: skip


# Customer pages the matrix does not visit, and why; sign-in, probes and the language menu
# (no contact data) are outside it.
NOT_VISITED = {
    "help-suggest": "titles of published articles as the visitor types: no account's record",
    "profile-email-confirm": "an e-mailed token, not a record (tests/pages/test_profile.py)",
}
OUTSIDE_THE_MATRIX = {"portal.views.signin", "portal.views.health", "portal.views.language"}


def test_every_customer_page_is_in_the_matrix():
    """Every route a contact's page or download is served from, with or without an id in
    its path (a list's zip has none: its query picks the records), is visited."""
    customer = {
        pattern.name
        for pattern in portal_urls.urlpatterns
        if isinstance(pattern, URLPattern)
        and pattern.callback.__module__.startswith("portal.views.")
        and pattern.callback.__module__ not in OUTSIDE_THE_MATRIX
    }
    assert {"invoices-zip", "documents-zip"} <= customer
    missing = customer - set(NOT_VISITED) - set(ROUTES)
    assert not missing, f"add these routes to the access matrix: {sorted(missing)}"
