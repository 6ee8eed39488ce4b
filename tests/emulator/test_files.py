"""Uploads, downloads (byte-identical, streamed, RFC 6266 names), info, temp URLs, PDFs."""

import base64
import hashlib
import io
import os
from urllib.parse import quote

import httpx2 as httpx
import pypdf

from crm_emulator.demo_data import LARGE_DOCUMENT, build_demo_data, large_file_sha256
from crm_emulator.printing import format_money
from tests.emulator.conftest import Api


def upload(api: Api, token: str, name: str, content: bytes, mimetype: str = "text/plain") -> str:
    return api.ok(
        "POST",
        "/files/upload",
        token,
        content=content,
        headers={
            "X-OneCRM-Filename": quote(name) if not name.isascii() else name,
            "Content-Type": mimetype,
        },
    )["id"]


def test_upload_attach_and_download_byte_identical(api: Api):
    token = api.staff()
    content = os.urandom(300_000)
    file_id = upload(api, token, "scan.bin", content, "application/octet-stream")
    note = api.ok(
        "POST", "/data/Note", token, json={"data": {"name": "With file", "filename": file_id}}
    )
    download = api.get(f"/files/download/Note/{note['id']}", token)
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["Content-Length"] == str(len(content))
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["X-OneCRM-Filename"] == "scan.bin"
    assert download.headers["Content-Disposition"] == 'attachment; filename="scan.bin"'
    info = api.ok("GET", f"/files/info/Note/{note['id']}", token)
    assert info["name"] == "scan.bin" and info["size"] == len(content)
    assert info["mimetype"] == "application/octet-stream" and info["modified"] > 0
    temp = httpx.get(info["temp_url"])
    assert temp.status_code == 200 and temp.content == content
    record = api.ok("GET", f"/data/Note/{note['id']}", token)["record"]
    assert record["filename"] == "scan.bin"
    api.ok("DELETE", f"/data/Note/{note['id']}", token)


def test_base64_upload_and_its_limit(api: Api):
    token = api.staff()
    content = "Grüße\n".encode()
    file_id = api.ok(
        "POST",
        "/files/upload/base64",
        token,
        json={
            "filename": "Überblick Préférences.txt",
            "mimetype": "text/plain",
            "data": base64.b64encode(content).decode(),
        },
    )["id"]
    doc = api.ok(
        "POST",
        "/data/Document",
        token,
        json={"data": {"document_name": "Base64", "filename": file_id}},
    )
    download = api.get(f"/files/download/Document/{doc['id']}", token)
    assert download.content == content
    disposition = download.headers["Content-Disposition"]
    assert "filename*=UTF-8''%C3%9Cberblick%20Pr%C3%A9f%C3%A9rences.txt" in disposition
    assert disposition.startswith('attachment; filename="')
    assert download.headers["X-OneCRM-Filename"] == quote("Überblick Préférences.txt", safe="")
    too_big = api.call(
        "POST",
        "/files/upload/base64",
        token,
        json={
            "filename": "big.bin",
            "mimetype": "application/octet-stream",
            "data": base64.b64encode(b"x" * 800_000).decode(),
        },
    )
    api.error(too_big, 413)
    api.error(
        api.call(
            "POST",
            "/files/upload/base64",
            token,
            json={"filename": "a.txt", "mimetype": "text/plain", "data": "***"},
        ),
        400,
    )
    api.ok("DELETE", f"/data/Document/{doc['id']}", token)


def test_upload_needs_a_plain_file_name(api: Api):
    token = api.staff()
    api.error(api.call("POST", "/files/upload", token, content=b"x"), 400)
    api.error(
        api.call(
            "POST",
            "/files/upload",
            token,
            content=b"x",
            headers={"X-OneCRM-Filename": "../etc/passwd"},
        ),
        400,
    )
    api.error(
        api.call("POST", "/files/upload", content=b"x", headers={"X-OneCRM-Filename": "a.txt"}), 401
    )
    api.error(api.call("POST", "/data/Note", token, json={"data": {"filename": "no-such"}}), 400)


def test_seeded_files_are_byte_identical_to_the_demo_data(api: Api):
    token = api.staff()
    import datetime as dt

    data = build_demo_data(dt.datetime.now(dt.UTC).date())
    for demo_file in data.files[:3] + [f for f in data.files if f.model == "Note"][:2]:
        response = api.get(f"/files/download/{demo_file.model}/{demo_file.id}", token)
        assert response.status_code == 200, response.text
        assert response.content == demo_file.content
        assert response.headers["Content-Type"] == demo_file.mimetype
    document = next(f for f in data.files if f.model == "Document")
    revision_id = api.ok("GET", f"/data/Document/{document.id}", token)["record"][
        "document_revision_id"
    ]
    revision = api.get(f"/files/download/DocumentRevision/{revision_id}", token)
    assert revision.content == document.content


def test_download_errors(api: Api, demo):
    token = api.staff()
    api.error(api.get(f"/files/download/Account/{demo.accounts[0]['id']}", token), 400)
    api.error(api.get("/files/download/Document/nope", token), 404)
    bare = api.ok("POST", "/data/Note", token, json={"data": {"name": "No file"}})
    api.error(api.get(f"/files/download/Note/{bare['id']}", token), 404)
    api.error(api.get("/files/temp/forged", token), 404)


def test_the_large_document_streams_200_mib(api: Api):
    token = api.staff()
    digest = hashlib.sha256()
    size = 0
    with api.http.stream(
        "GET",
        f"{api.url}/files/download/Document/{LARGE_DOCUMENT.id}",
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == str(LARGE_DOCUMENT.size)
        for chunk in response.iter_bytes():
            digest.update(chunk)
            size += len(chunk)
    assert size == LARGE_DOCUMENT.size >= 200 * 1024 * 1024
    assert digest.hexdigest() == large_file_sha256()


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_printed_invoice_and_quote_hold_number_and_total(api: Api):
    token = api.staff()
    base = api.ok("GET", "/meta/locale", token)["base_currency"]
    for currency in api.records("Currency", token, **{"fields[]": ["iso4217", "symbol"]}):
        CURRENCIES[currency["id"]] = {**base, **currency}
    for model in ("Invoice", "Quote"):
        record = api.ok("GET", f"/data/{model}", token, params=SEEDED_FIRST)["records"][0]
        response = api.get(f"/printer/pdf/{model}/{record['id']}", token)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        text = pdf_text(response.content)
        assert record["full_number"] in text
        total = api.ok("GET", f"/tally/{model}/{record['id']}", token)["totals"]["total"]
        currency = CURRENCIES[record["currency_id"]]
        printed = format_money(total, currency, {"dec_sep": ".", "grp_sep": ","})
        assert printed in text, (printed, text)


CURRENCIES = {}
# The oldest record: one the demo seeded, years ago. The newest may be one another test
# wrote to the session's emulator a moment ago, with no lines nor currency (by default
# lists put the newest first, so which one came first depended on the time of day).
SEEDED_FIRST = {"limit": 1, "order": "date_entered ASC"}


def test_pdf_follows_accept_language(api: Api):
    token = api.staff()
    record = api.ok("GET", "/data/Invoice", token, params={"limit": 1})["records"][0]
    response = api.get(
        f"/printer/pdf/Invoice/{record['id']}", token, headers={"Accept-Language": "de"}
    )
    assert "Rechnung" in pdf_text(response.content)


def test_concurrent_prints_all_succeed(api: Api):
    from concurrent.futures import ThreadPoolExecutor

    token = api.staff()
    ids = [r["id"] for r in api.ok("GET", "/data/Invoice", token, params={"limit": 12})["records"]]

    def status(invoice_id: str) -> int:
        return httpx.get(
            f"{api.url}/printer/pdf/Invoice/{invoice_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(status, ids)) == {200}


def test_info_of_the_large_document(api: Api):
    info = api.ok("GET", f"/files/info/Document/{LARGE_DOCUMENT.id}", api.staff())
    assert info["size"] == LARGE_DOCUMENT.size
    assert info["name"] == LARGE_DOCUMENT.filename
    assert info["mimetype"] == LARGE_DOCUMENT.mimetype
