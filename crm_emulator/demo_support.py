"""Demo content for support (issue 14): conversations on the demo cases, and a knowledge
base. Deterministic like the rest of the demo data, with its own random generator, so
adding it changed none of the records drawn before it.

* Each demo case gets a conversation of `Note`s (``parent_type`` "Cases"): staff replies
  (no ``contact_id``, no ``account_id``: staff write them in the CRM), the customer's own
  follow-ups (``contact_id`` of the case's contact, ``account_id`` of its account), an
  internal staff note now and then (``portal_flag`` False), and attachments (PNG, PDF).
* The knowledge base: ``KBCategory`` (4 top categories, one of them not ``portal_active``,
  each with subcategories) and ``KBArticle`` (30: some not ``portal_active``, one with
  hostile HTML (``HOSTILE_ARTICLE_SLUG``), one in German with non-ASCII text, some with
  attachments as notes (``parent_type`` "KBArticles", ``portal_flag`` True), and links
  between articles in the CRM's own form ``index.php?module=KBArticles&action=DetailView
  &record=<id>``).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm_emulator.demo_data import _Builder

SUPPORT_SEED = 1_000_014
HOSTILE_ARTICLE_SLUG = "cleaning-your-tools-hostile"
GERMAN_ARTICLE_SLUG = "grosse-gruesse-aus-koeln"
UNPUBLISHED_ARTICLE_SLUG = "internal-price-list"

CONVERSATION = [  # (who, text, attachment extension or "", portal_flag)
    ("staff", "Thank you for your message. We are looking into it.", "", True),
    ("contact", "Here is a photo of what we see.", "png", True),
    ("staff-internal", "Internal: check the batch number with the supplier.", "", False),
    ("staff", "Please find our service report attached.", "pdf", True),
    ("contact", "Thanks, that helps.", "", True),
]

HOSTILE_HTML = (
    "<h2>Cleaning your tools</h2>"
    '<p onclick="alert(1)">Wipe the housing with a dry cloth.</p>'
    "<script>alert('kb')</script>"
    '<p><a href="javascript:alert(2)">Click for a discount</a></p>'
    '<iframe src="https://evil.example.com/frame"></iframe>'
    '<img src="data:image/png;base64,iVBORw0KGgo=" onerror="alert(3)" alt="pixel">'
    '<p style="position:fixed;top:0">Styled</p>'
    "<svg><script>alert(4)</script></svg>"
    '<form action="https://evil.example.com/"><input name="card"></form>'
    "<p>Safe text stays.</p>"
)


def _ts(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class _Support:
    def __init__(self, builder: _Builder) -> None:
        self.builder = builder
        self.rng = random.Random(SUPPORT_SEED)
        self.pdf: bytes | None = None

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def add(self, model: str, fields: dict[str, Any]) -> str:
        record_id = self.new_id()
        return self.builder.add(model, fields, record_id)

    def attach(self, model: str, note_id: str, title: str, ext: str, owner: str) -> tuple[str, str]:
        from crm_emulator.demo_data import MIMETYPES, DemoFile, make_pdf, make_png

        filename = f"{title.lower().replace(' ', '-')}.{ext}"
        if ext == "png":
            content = make_png(self.rng.randint(40, 80), self.rng.randint(30, 60), 3)
        else:  # one PDF for all of them: building the demo data stays fast
            if self.pdf is None:
                self.pdf = make_pdf(
                    "Service report", ["Prepared by our service team."], self.builder.today
                )
            content = self.pdf
        self.builder.files.append(DemoFile(model, note_id, filename, MIMETYPES[ext], content))
        return filename, MIMETYPES[ext]

    # --- conversations on cases

    def conversations(self) -> None:
        accounts = {a["id"]: a["name"] for a in self.builder.accounts}
        cases = [r for r in self.builder.records if r.model == "aCase"]
        for index, case in enumerate(cases):
            opened = dt.datetime.fromisoformat(case.fields["date_entered"])
            length = 1 + index % len(CONVERSATION)
            moment = opened
            for who, text, ext, portal_flag in CONVERSATION[:length]:
                moment += dt.timedelta(hours=self.rng.randint(2, 30))
                if moment.date() > self.builder.today:
                    break
                from_contact = who == "contact" and case.fields["cust_contact_id"]
                note_id = self.new_id()
                fields: dict[str, Any] = {
                    "name": text.split(".")[0][:60],
                    "description": text,
                    "filename": "",
                    "file_mime_type": "",
                    "parent_type": "Cases",
                    "parent_id": case.id,
                    "portal_flag": portal_flag,
                    "contact_id": case.fields["cust_contact_id"] if from_contact else "",
                    "account_id": case.fields["account_id"] if from_contact else "",
                    "date_entered": _ts(moment),
                }
                if ext:
                    owner = accounts.get(case.fields["account_id"], "")
                    title = f"case {case.fields['case_number']} {who} {ext}"
                    fields["filename"], fields["file_mime_type"] = self.attach(
                        "Note", note_id, title, ext, owner
                    )
                self.builder.add("Note", fields, note_id)

    # --- the knowledge base

    def knowledge_base(self) -> None:
        today = self.builder.today
        tree = [
            ("Getting started", True, ["Ordering", "Your account"]),
            ("Tools and care", True, ["Drills", "Grinders", "Batteries"]),
            ("Deliveries and invoices", True, ["Shipping", "Invoices"]),
            ("Staff only", False, ["Pricing"]),
        ]
        categories: list[tuple[str, bool, str]] = []  # (id, published, name)
        for order, (name, active, children) in enumerate(tree, start=1):
            top = self.add(
                "KBCategory",
                {
                    "name": name,
                    "description": f"Articles about {name.lower()}.",
                    "parent_id": "",
                    "display_order": order,
                    "portal_active": active,
                    "date_entered": _ts(dt.datetime.combine(today, dt.time(9))),
                },
            )
            categories.append((top, active, name))
            for sub_order, child in enumerate(children, start=1):
                sub = self.add(
                    "KBCategory",
                    {
                        "name": child,
                        "description": f"{child} ({name}).",
                        "parent_id": top,
                        "display_order": sub_order,
                        "portal_active": active,
                        "date_entered": _ts(dt.datetime.combine(today, dt.time(9))),
                    },
                )
                categories.append((sub, active, child))
        topics = [
            "How to place an order",
            "Changing your delivery address",
            "Resetting your portal password",
            "Charging drill batteries",
            "Replacing grinder discs safely",
            "Storing batteries over winter",
            "Reading your invoice",
            "Tracking a delivery",
            "Returning a damaged item",
            "Warranty conditions",
            "Choosing the right drill bit",
            "Calibration certificates",
            "Paying by bank transfer",
            "Bulk orders and discounts",
            "Opening a support case",
            "Adding colleagues to your account",
            "Torque settings explained",
            "Dust extraction basics",
            "Spare parts catalogue",
            "Service intervals",
            "Safety data sheets",
            "Payment terms",
            "Export documents",
            "Ordering by phone",
        ]
        published = [c for c in categories if c[1]]
        first_article = ""
        for number, topic in enumerate(topics):
            category_id = published[number % len(published)][0]
            body = (
                f"<h2>{topic}</h2><p>{topic} in a few steps.</p>"
                "<ol><li>Check the label.</li><li>Follow the manual.</li></ol>"
                '<p>More at <a href="https://www.example.com/manuals">our manuals</a>.</p>'
            )
            if first_article:
                body += (
                    '<p>See also <a href="index.php?module=KBArticles&amp;action=DetailView'
                    f'&amp;record={first_article}">the first article</a>.</p>'
                )
            article = self.article(topic, topic.lower().replace(" ", "-"), category_id, body, True)
            first_article = first_article or article
            if number % 6 == 2:
                self.article_attachment(article, topic, "pdf" if number % 12 == 2 else "png")
        self.article(
            "Cleaning your tools",
            HOSTILE_ARTICLE_SLUG,
            published[1][0],
            HOSTILE_HTML,
            True,
        )
        self.article(
            "Große Grüße aus Köln: Geräte richtig pflegen",
            GERMAN_ARTICLE_SLUG,
            published[1][0],
            "<p>Schöne Grüße! Bitte die Geräte trocken lagern, Öl nur sparsam verwenden."
            " Ça marche, naïve café, Zoë.</p>",
            True,
        )
        self.article(
            "Internal price list",
            UNPUBLISHED_ARTICLE_SLUG,
            published[0][0],
            "<p>Not for customers.</p>",
            False,
        )
        self.article(
            "Draft: new returns policy", "draft-returns", published[2][0], "<p>Draft</p>", False
        )
        hidden_category = next(c for c in categories if not c[1])
        self.article(
            "Pricing rules for staff",
            "pricing-rules",
            hidden_category[0],
            "<p>Published, but in a category that is not.</p>",
            True,
        )

    def article(self, name: str, slug: str, category_id: str, body: str, active: bool) -> str:
        moment = dt.datetime.combine(
            self.builder.today - dt.timedelta(days=self.rng.randint(1, 400)), dt.time(10)
        )
        return self.add(
            "KBArticle",
            {
                "name": name,
                "summary": f"{name}: what to know.",
                "description": body,
                "slug": slug,
                "category_id": category_id,
                "portal_active": active,
                "date_entered": _ts(moment),
                "date_modified": _ts(moment + dt.timedelta(days=3)),
            },
        )

    def article_attachment(self, article_id: str, topic: str, ext: str) -> None:
        note_id = self.new_id()
        filename, mimetype = self.attach("Note", note_id, f"{topic} guide", ext, "")
        self.builder.add(
            "Note",
            {
                "name": f"{topic} guide",
                "description": "",
                "filename": filename,
                "file_mime_type": mimetype,
                "parent_type": "KBArticles",
                "parent_id": article_id,
                "portal_flag": True,
                "contact_id": "",
                "account_id": "",
                "date_entered": _ts(dt.datetime.combine(self.builder.today, dt.time(8))),
            },
            note_id,
        )


def build_support(builder: _Builder) -> None:
    support = _Support(builder)
    support.conversations()
    support.knowledge_base()
