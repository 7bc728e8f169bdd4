"""The web pages through an HTTP client: sign-in, roles, forms, errors, logged reads, CSV."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from credence.access.auth import disable_principal
from credence.api.app import create_app
from credence.audit.tables import AccessEvent
from credence.server import create_server
from credence.store.schema import MeasureRow, Objection, RecordStatus
from credence.web import create_web_router
from tests.web.conftest import csrf_of, sign_in, sign_in_token
from tests.web.world import WRONG, World, process

TEMPLATES = Path(__file__).parents[2] / "src" / "credence" / "web" / "templates"


def reads(world: World, actor: str) -> list[tuple[str, str, str]]:
    """(role, purpose, what) of every logged read by ``actor``."""
    with world.store.session() as s:
        return [
            (e.role, e.purpose, e.what)
            for e in s.scalars(select(AccessEvent).where(AccessEvent.actor == actor))
        ]


def score_of(html: str) -> int:
    found = re.search(r'data-testid="score">(\d+)<', html)
    assert found
    return int(found.group(1))


def test_every_page_sends_a_stranger_to_sign_in(client: TestClient) -> None:
    for path in ("/portal", "/queue", "/queue/objections/1", "/analytics", "/lab"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == f"/sign-in?next={path}"
    assert client.get("/", follow_redirects=False).headers["location"] == "/sign-in"


def test_a_wrong_or_missing_key_is_refused_with_a_clear_message(client: TestClient) -> None:
    token = sign_in_token(client)
    r = client.post("/sign-in", data={"api_key": "crd_1_wrong", "csrf": token})
    assert r.status_code == 401
    assert "was not recognised" in r.text
    assert 'aria-invalid="true"' in r.text
    r = client.post("/sign-in", data={"api_key": "  ", "csrf": token})
    assert r.status_code == 401 and "Enter your API key" in r.text


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(
    client: TestClient, world: World
) -> None:
    key, token = world.keys["audrey"], sign_in_token(client)
    r = client.post(
        "/sign-in", data={"api_key": key, "next": "/lab", "csrf": token}, follow_redirects=False
    )
    assert r.headers["location"] == "/lab"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        data = {"api_key": key, "next": evil, "csrf": sign_in_token(client)}
        r = client.post("/sign-in", data=data, follow_redirects=False)
        assert r.headers["location"] == "/analytics"


def test_each_role_sees_only_its_pages(client: TestClient, world: World) -> None:
    sign_in(client, world, "alice")
    r = client.get("/queue")
    assert r.status_code == 403
    assert "for the roles reviewer" in r.text
    assert client.get("/analytics").status_code == 403
    sign_in(client, world, "rita")
    assert client.get("/portal").status_code == 403
    assert client.get("/analytics").status_code == 200
    sign_in(client, world, "party")
    r = client.get("/")
    assert r.status_code == 200 and "use the HTTP API" in r.text


def test_a_forged_or_stale_cookie_is_not_a_session(client: TestClient, world: World) -> None:
    sign_in(client, world, "alice")
    assert client.get("/portal", follow_redirects=False).status_code == 200
    client.cookies.set("credence_session", "forged.value.here")
    assert client.get("/portal", follow_redirects=False).status_code == 303
    sign_in(client, world, "alice")
    with world.store.session() as s:
        disable_principal(s, world.store.keys, "alice", actor="operator")
        s.commit()
    assert client.get("/portal", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(client: TestClient, world: World) -> None:
    sign_in(client, world, "alice")
    assert client.post("/sign-out", follow_redirects=False).status_code == 400  # no token
    token = csrf_of(client.get("/portal").text)
    r = client.post("/sign-out", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/portal", follow_redirects=False).status_code == 303


def test_the_portal_explains_every_point_and_logs_its_reads(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "alice")
    r = client.get("/portal")
    assert r.status_code == 200
    page = r.text
    assert score_of(page) == 560
    for text in (
        "court:J-ALICE-2",
        "Civil Procedure Code art. 255",
        "Municipal Merit Ordinance 2026 art. 8(2)",
        "Tax office",
        "Court judgment not complied with",
        "Changes ahead",
        "Blacklist of serious dishonesty",
        "days left",
        "Who looked at my data",
    ):
        assert text in page, text
    assert page.count("<svg") == 2  # the gauge and the timeline
    what = {w for role, purpose, w in reads(world, "alice")}
    assert {"records", "notices", "measures", "objections", "access_log"} <= what
    assert {role for role, _, _ in reads(world, "alice")} == {"subject"}


def test_filing_an_objection_with_evidence_stores_the_file(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "alice")
    token = csrf_of(client.get("/portal").text)
    r = client.post(
        "/portal/objections",
        data={"record_id": WRONG, "statement": "Paid in full.", "csrf": token},
        files={"evidence": ("../../receipt 1.pdf", b"%PDF-1.4 receipt", "application/pdf")},
    )
    assert r.status_code == 200
    assert "was filed" in r.text
    assert score_of(r.text) == 660  # a contested record does not count (contest suspends)
    with world.store.session() as s:
        o = s.scalars(select(Objection).where(Objection.record_id == WRONG)).one()
        body = json.loads(o.body)
    assert body["statement"] == "Paid in full."
    (ref,) = body["evidence"]
    assert ref.startswith("evidence/") and ref.endswith("-receipt-1.pdf")
    assert (world.store.folder / ref).read_bytes() == b"%PDF-1.4 receipt"

    sign_in(client, world, "rita")
    page = client.get(f"/queue/objections/{o.id}").text
    assert "Paid in full." in page and WRONG in page
    r = client.get(f"/queue/objections/{o.id}/evidence/0")
    assert r.status_code == 200 and r.content == b"%PDF-1.4 receipt"
    assert "attachment" in r.headers["content-disposition"]
    purposes = {(p, w) for _, p, w in reads(world, "rita")}
    assert (f"review of objection {o.id}", "objection") in purposes
    assert (f"review of objection {o.id}", "evidence") in purposes


def test_objection_errors_are_shown_next_to_their_fields(client: TestClient, world: World) -> None:
    sign_in(client, world, "alice")
    token = csrf_of(client.get("/portal").text)
    r = client.post("/portal/objections", data={"record_id": "", "statement": "", "csrf": token})
    assert r.status_code == 422
    assert 'id="record_id-error"' in r.text and "Choose the record" in r.text
    assert 'id="statement-error"' in r.text and "statement is required" in r.text
    # Carol's record is not Alice's to contest.
    r = client.post(
        "/portal/objections",
        data={"record_id": "court:J-CAROL-1", "statement": "Not mine.", "csrf": token},
    )
    assert r.status_code == 422 and "not one of yours" in r.text
    r = client.post("/portal/objections", data={"record_id": WRONG, "statement": "x"})
    assert r.status_code == 400 and "did not come from this site" in r.text
    with world.store.session() as s:
        assert (
            s.scalars(select(Objection).where(Objection.subject_id == world.ids["alice"])).all()
            == []
        )


def test_an_upload_over_the_limit_is_refused(world: World) -> None:
    app = FastAPI()
    app.include_router(create_web_router(world.store, world.policy, max_upload=1024 * 1024))
    with TestClient(app) as client:
        sign_in(client, world, "alice")
        token = csrf_of(client.get("/portal").text)
        r = client.post(
            "/portal/objections",
            data={"record_id": WRONG, "statement": "Too big.", "csrf": token},
            files={"evidence": ("big.bin", b"x" * (1024 * 1024 + 1), "application/octet-stream")},
        )
    assert r.status_code == 422 and "larger than 1 MiB" in r.text


def test_more_evidence_extends_the_deadline_once(client: TestClient, world: World) -> None:
    sign_in(client, world, "alice")
    token = csrf_of(client.get("/portal").text)
    client.post("/portal/objections", data={"record_id": WRONG, "statement": "s", "csrf": token})
    with world.store.session() as s:
        o = s.scalars(select(Objection).where(Objection.record_id == WRONG)).one()
    before = o.review_deadline
    r = client.post(
        f"/portal/objections/{o.id}/evidence",
        data={"csrf": token},
        files={"evidence": ("letter.txt", b"letter", "text/plain")},
    )
    assert r.status_code == 200 and "evidence was added" in r.text
    with world.store.session() as s:
        after = s.get(Objection, o.id)
        assert after is not None
        assert (after.review_deadline - before).days == 15
    r = client.post(f"/portal/objections/{o.id}/evidence", data={"csrf": token})
    assert r.status_code == 422 and "Choose a file to add" in r.text


def test_the_reviewer_decides_and_a_refusal_needs_a_reason(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "alice")
    token = csrf_of(client.get("/portal").text)
    client.post(
        "/portal/objections", data={"record_id": WRONG, "statement": "Paid.", "csrf": token}
    )
    sign_in(client, world, "rita")
    queue = client.get("/queue").text
    links = re.findall(r'href="(/queue/(?:objections|measures)/\d+)"', queue)
    assert links[0].startswith("/queue/objections/")  # the nearest deadline first
    assert any(link.startswith("/queue/measures/") for link in links)
    assert "30 days" in queue
    path = links[0]
    token = csrf_of(client.get(path).text)
    r = client.post(path, data={"outcome": "upheld", "reason": " ", "csrf": token})
    assert r.status_code == 422 and "a refusal must say why" in r.text
    r = client.post(path, data={"outcome": "", "csrf": token})
    assert r.status_code == 422 and "Choose a decision" in r.text
    r = client.post(path, data={"outcome": "overturned", "reason": "", "csrf": token})
    assert r.status_code == 200 and "Decision recorded" in r.text
    r = client.post(path, data={"outcome": "overturned", "reason": "", "csrf": token})
    assert r.status_code == 422 and "no longer open" in r.text
    with world.store.session() as s:
        last = s.scalars(
            select(RecordStatus.status)
            .where(RecordStatus.record_id == WRONG)
            .order_by(RecordStatus.id.desc())
        ).first()
    assert last == "overturned"
    process(world)
    sign_in(client, world, "alice")
    page = client.get("/portal").text
    assert score_of(page) == 660
    assert '<span class="badge">put right in time</span>' in page


def test_a_measure_is_approved_or_refused_with_a_reason(client: TestClient, world: World) -> None:
    sign_in(client, world, "rita")
    with world.store.session() as s:
        m = s.scalars(select(MeasureRow).where(MeasureRow.status == "awaiting_review")).one()
    path = f"/queue/measures/{m.id}"
    page = client.get(path).text
    assert "Enhanced review of applications" in page and "Objection to the City Merit Board" in page
    token = csrf_of(page)
    r = client.post(path, data={"decision": "refuse", "reason": "", "csrf": token})
    assert r.status_code == 422 and "a refusal must say why" in r.text
    r = client.post(path, data={"decision": "refuse", "reason": "Disproportionate.", "csrf": token})
    assert r.status_code == 200
    with world.store.session() as s:
        row = s.get(MeasureRow, m.id)
        assert row is not None and row.status == "refused"
        assert json.loads(row.body)["review"]["reason"] == "Disproportionate."
    assert client.get("/queue/measures/999").status_code == 404


def test_the_lab_lints_and_tests_a_bundled_or_uploaded_policy(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "audrey")
    token = csrf_of(client.get("/lab").text)
    r = client.post("/lab/check", data={"bundled": "city-merit", "csrf": token})
    assert r.status_code == 200
    assert "Lint: 0 errors" in r.text and "11 of 11 passed" in r.text
    assert "<html" in r.text  # without htmx: the whole page
    r = client.post(
        "/lab/check",
        data={"bundled": "city-merit", "csrf": token, "profile": "eu"},
        headers={"HX-Request": "true"},
    )
    assert "<html" not in r.text and "Lint: 0 errors" in r.text  # with htmx: a fragment
    r = client.post(
        "/lab/check",
        data={"csrf": token},
        files={"policy_file": ("bad.yaml", BAD_POLICY.encode(), "text/yaml")},
    )
    assert "CR001" in r.text and "CR002" in r.text
    r = client.post("/lab/check", data={"csrf": token, "text": "id: [unclosed"})
    assert "could not be read" in r.text
    r = client.post("/lab/check", data={"csrf": token})
    assert r.status_code == 422 and "Pick a bundled policy" in r.text


def test_the_lab_links_every_bundled_policy_s_book(client: TestClient, world: World) -> None:
    sign_in(client, world, "audrey")
    assert '<a href="/lab/book/city-merit">city-merit</a>' in client.get("/lab").text
    r = client.get("/lab/book/city-merit")
    assert r.status_code == 200 and "Municipal merit scheme" in r.text
    assert "Minor traffic violation" in r.text  # a rule beside its law, in words
    assert client.get("/lab/book/no-such-policy").status_code == 404


def test_the_lab_diffs_two_versions_and_explains_bad_input(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "audrey")
    token = csrf_of(client.get("/lab").text)
    form = {"a": "city-merit@2026.1", "b": "city-merit@2026.2", "csrf": token}
    r = client.post("/lab/diff", data={**form, "population": "500", "years": "2", "seed": "3"})
    assert r.status_code == 200
    assert "city-merit 2026.1 → city-merit 2026.2" in r.text
    assert "civic.traffic_violation" in r.text
    r = client.post("/lab/diff", data={**form, "population": "9999999"})
    assert r.status_code == 422 and "from 100 to 10000" in r.text
    r = client.post("/lab/diff", data={**form, "a": "no-such-policy"})
    assert r.status_code == 422 and "Pick policy A" in r.text


def test_the_router_lives_inside_the_api_app(world: World) -> None:
    app = create_app(world.store, world.policy)
    app.include_router(create_web_router(world.store, world.policy))
    with TestClient(app) as client:
        assert client.get("/health").headers["content-type"].startswith("application/json")
        sign_in(client, world, "rita")
        assert client.get("/queue").status_code == 200
        r = client.get(
            "/review/objections", headers={"Authorization": f"Bearer {world.keys['rita']}"}
        )
        assert r.headers["content-type"].startswith("application/json")
        assert "/portal" not in client.get("/openapi.json").text


def test_no_asset_comes_from_the_network(client: TestClient) -> None:
    for template in TEMPLATES.glob("*.html"):
        assert not re.search(r'(src|href)="(https?:)?//', template.read_text()), template.name
    r = client.get("/static/htmx.min.js")
    assert r.status_code == 200 and "htmx" in r.text[:200]
    assert client.get("/static/credence.css").status_code == 200
    assert client.get("/static/..%2Fapp.py").status_code == 404


BAD_POLICY = """
id: bad
version: "1"
effective_from: 2026-01-01
scale: {base: 100, min: 0, max: 200}
grades: [{grade: ok, min: 0, max: 200}]
categories: [{id: c}]
rules:
  - {kind: thing, category: c, points: -5, sources: [x], data_category: administrative}
"""


def test_the_store_s_day_is_the_site_s_clock_and_nothing_later_is_offered(world: World) -> None:
    from datetime import timedelta

    from credence.store.meta import record_data_as_of
    from credence.web.words import long_date

    day = world.today - timedelta(days=11)
    record_data_as_of(world.store.engine, day)
    app = FastAPI()
    app.include_router(create_web_router(world.store, world.policy))
    with TestClient(app) as client:
        sign_in(client, world, "alice")
        page = client.get("/portal").text
    assert f"Data as of {long_date(day)}" in page
    assert f"today {long_date(day)}" in page
    # Every record offered to object to happened on or before the store's day.
    offered = re.findall(r'<option value="[^"]+" >[^<]*?, (\d+ \w+ \d{4}) \(', page)
    assert offered
    months = {
        m: i + 1
        for i, m in enumerate(
            [
                "January",
                "February",
                "March",
                "April",
                "May",
                "June",
                "July",
                "August",
                "September",
                "October",
                "November",
                "December",
            ]
        )
    }
    for text in offered:
        d, m, y = text.split()
        assert (int(y), months[m], int(d)) <= (day.year, day.month, day.day), text


def test_a_store_without_a_recorded_day_lives_today(client: TestClient, world: World) -> None:
    sign_in(client, world, "alice")
    page = client.get("/portal").text
    assert "Data as of" not in page


def test_words_not_codes_on_the_portal(client: TestClient, world: World) -> None:
    from credence.web.words import long_date

    sign_in(client, world, "alice")
    page = client.get("/portal").text
    for code in ("legal.judgment_unfulfilled", "serious-arrears", "awaiting_review", "P30D"):
        assert f">{code}<" not in page and f" {code} " not in page, code
    assert "Blacklist of serious dishonesty" in page
    assert "Reviewed within 30 days, extended once by 15 days" in page
    assert f"today {long_date(world.today)}" in page
    text = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)  # the charts' axes are short dates
    assert not re.search(r">\s*\d{4}-\d{2}-\d{2}\s*<", text)  # no bare ISO date in a cell


def test_the_subject_s_own_reads_are_one_line_a_day(client: TestClient, world: World) -> None:
    sign_in(client, world, "alice")
    for _ in range(3):
        client.get("/portal")
    page = client.get("/portal").text
    table = page[page.index('data-testid="accesses"') :]
    table = table[: table.index("</table>")]
    own = re.findall(r'<td data-label="role">you</td>', table)
    assert len(own) == 1
    # Three earlier visits of five reads each (records, notices, measures, objections, access
    # log): this visit's reads are written as the page is sent, and shown on the next one.
    count = re.search(r"\((\d+) reads\)", table)
    assert count is not None and int(count.group(1)) == 15


def test_browsers_get_error_pages_and_clients_problems(world: World) -> None:
    app = create_server(world.store, world.policy)

    @app.get("/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("a bug")

    page = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/nope", headers=page)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert "<h1>Not found</h1>" in r.text and "There is no page at this address" in r.text
        assert r.headers["content-security-policy"].startswith("default-src 'self'")
        r = client.get("/nope", headers={"Accept": "application/json"})
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 404
        r = client.get("/boom", headers=page)
        assert r.status_code == 500 and "<h1>Something is wrong</h1>" in r.text
        assert "a bug" not in r.text
        assert client.get("/boom").headers["content-type"] == "application/problem+json"
        sign_in(client, world, "rita")
        r = client.get("/portal", headers=page)
        assert r.status_code == 403 and "<h1>Not allowed</h1>" in r.text


def _words_of(html: str, start: str, end: str) -> str:
    """The text between two markers of a page, tags dropped and spaces collapsed."""
    part = html[html.index(start) : html.index(end)]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part)).replace(" .", ".")


def test_the_portal_gives_the_principal_reasons_and_the_way_back(
    client: TestClient, world: World
) -> None:
    from datetime import timedelta

    from credence.dates import Duration
    from credence.web.words import days, long_date

    # Hand-checked on the web world (dates relative to its today, tests/web/world.py): Alice
    # has 560, grade D; grade C starts at 600, so she is 40 points away, and each of her three
    # judgments (-100) and her tax arrears (-80) alone would lift her past it.
    today = world.today
    j1_on = today - timedelta(240)  # J-ALICE-1, effective ten days later, counts 5 years
    j1_ends = Duration(years=5).after(j1_on + timedelta(10))
    tax_ends = Duration(years=3).after(j1_on + timedelta(20))
    fine_ends = Duration(years=2).after(today - timedelta(300))
    sign_in(client, world, "alice")
    page = client.get("/portal").text
    text = _words_of(page, 'id="reasons-h"', 'id="time-h"')
    assert "Grade D 40 points away from grade C." in text
    assert "Blacklist of serious dishonesty 40 points away from leaving the list." in text
    assert text.count("decisive") == 8  # four reasons on each of the two outcomes
    j1 = (
        f"1. Court judgment not complied with: record court:J-ALICE-1 of {long_date(j1_on)},"
        f" reported by Court, -100 points; it stops counting on {long_date(j1_ends)}. decisive"
        " Legal basis: Municipal Merit Ordinance 2026 art. 10(2); Civil Procedure Code art. 255."
    )
    assert text.count(j1) == 2
    taxes = f"4. Unpaid taxes: record tax_office:T-ALICE-1 of {long_date(j1_on + timedelta(20))}"
    assert text.count(taxes) == 2
    assert '<a href="/portal?object=court%3AJ-ALICE-1#file-h">' in page
    # The way back: expiries by date; once the penalty (-10) and then the tax arrears (-80)
    # stop counting, 560 + 10 + 80 = 650: grade C and off the blacklist. Overturning J-ALICE-1
    # (+100) gives 660 today.
    assert (
        "Administrative penalty (record city_hall:V-ALICE-1 , -10 points) stops counting on"
        f" {long_date(fine_ends)}."
    ) in text
    sooner = (
        f"on {long_date(tax_ends)} if nothing new is reported, or on {long_date(today)} if you:"
        " object to record court:J-ALICE-1 (Court judgment not complied with) and the objection"
        f" succeeds (+100 points, {days((tax_ends - today).days)} sooner)"
    )
    assert f"Grade C {sooner}" in text
    assert f"Off Blacklist of serious dishonesty {sooner}" in text
    assert "Grade AAA: not with the records known." in text
    assert "earn the credit Volunteering 4 times (+20 points, not sooner on its own)" in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # every date in words
    # The link opens the objection form with that record chosen.
    chosen = client.get("/portal", params={"object": "court:J-ALICE-1"}).text
    assert re.search(r'<option value="court:J-ALICE-1"\s+selected>', chosen)


def test_a_working_day_period_is_said_in_words() -> None:
    from credence.dates import Calendar, Period
    from credence.web.words import human_duration

    assert human_duration(Period(working_days=10, calendar=Calendar("DE-BY"))) == "10 working days"
    assert human_duration(Period(working_days=1)) == "1 working day"
