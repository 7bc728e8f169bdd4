"""Hypothesis-generated bodies posted to every state-changing web form, as a hostile client would.

The forms are server-rendered and not in the API's OpenAPI document, so schemathesis has no
schema to drive them; the bodies here are drawn the way schemathesis would draw them for a
form schema (text with control characters, huge values, missing fields, wrong types, odd
uploads) and posted through a real HTTP client. What is held: no answer is ever a 5xx; a form
without the session's CSRF token is refused (400) and changes nothing in the store; with a valid
session and token, malformed input gets a 4xx form page. The example counts are kept small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from credence.sql.columns import Base
from credence.store.schema import MeasureRow, Objection
from credence.web import create_web_router
from tests.web.conftest import csrf_of, sign_in, sign_in_token
from tests.web.world import WRONG, World, reopen

EXAMPLES = 25
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
# Tables a refused request may still write to: who looked (access events) and sessions.
LOGS = {"access_events", "web_sessions"}

# Text as a hostile client sends it: any code point but surrogates (not encodable), control
# characters and NUL included, sometimes far over every length limit.
hostile_text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(["", " ", "\x00", "\r\n", "=cmd|' /C calc'!A0", "../../etc/passwd", "-1"]),
    st.integers(1, 6).map(lambda k: "x" * (10**k)),
)
# A field is absent, or present with hostile text.
maybe = st.one_of(st.none(), hostile_text)
# An optional upload: (filename, bytes).
upload = st.one_of(
    st.none(),
    st.tuples(
        st.one_of(
            st.text(max_size=20), st.sampled_from(["../x.pdf", "a\x00b.txt", "évidence.png"])
        ),
        st.one_of(st.binary(max_size=64), st.just(b"%PDF-1.4 " * 100)),
    ),
)
path_id = st.one_of(
    st.integers(-(2**63), 2**63),
    st.sampled_from(["abc", "1.5", "%00", "1e3", " 1"]),
)


@pytest.fixture(scope="module")
def fuzz_world(template: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One copy of the populated store for the whole file."""
    w = reopen(template, tmp_path_factory.mktemp("form-fuzz") / "data")
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(scope="module")
def app(fuzz_world: World) -> FastAPI:
    """An app that includes the web router, as the API app does."""
    a = FastAPI()
    a.include_router(create_web_router(fuzz_world.store, fuzz_world.policy))
    return a


@pytest.fixture(scope="module")
def ids(fuzz_world: World) -> dict[str, int]:
    """The ids of an objection and a measure that exist."""
    with fuzz_world.store.session() as s:
        objection = s.scalars(select(Objection.id)).first()
        measure = s.scalars(select(MeasureRow.id)).first()
    assert objection is not None and measure is not None
    return {"objection": objection, "measure": measure}


def _client(app: FastAPI) -> TestClient:
    # A server exception is a failure too: it is raised into the test rather than hidden.
    return TestClient(app)


def _counts(world: World) -> dict[str, int]:
    """Row counts of every table a state change would touch."""
    with world.store.session() as s:
        return {
            t.name: s.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
            if t.name not in LOGS
        }


def _form(fields: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if v is not None}


def _files(name: str, up: tuple[str, bytes] | None) -> dict[str, Any] | None:
    return None if up is None else {name: (up[0], up[1], "application/octet-stream")}


def _token(client: TestClient, page: str) -> str:
    r = client.get(page)
    assert r.status_code == 200, r.text
    return csrf_of(r.text)


def _post(client: TestClient, url: str, data: dict[str, str], files: Any = None) -> Any:
    r = client.post(url, data=data, files=files, follow_redirects=False)
    assert r.status_code < 500, (url, r.status_code, r.text[:500])
    return r


# -- without a valid CSRF token: refused, nothing changes ------------------------------------

# (who signs in, the page that carries the form, url (with {o}/{m} for ids), fields)
FORMS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("alice", "/portal", "/portal/objections", ("record_id", "statement")),
    ("alice", "/portal", "/portal/objections/{o}/evidence", ()),
    ("rita", "/queue", "/queue/objections/{o}", ("outcome", "reason")),
    ("rita", "/queue", "/queue/measures/{m}", ("decision", "reason")),
    ("rita", "/lab", "/lab/check", ("bundled", "profile", "text")),
    ("rita", "/lab", "/lab/diff", ("a", "b", "population", "years", "seed")),
    ("alice", "/portal", "/sign-out", ()),
]


@pytest.mark.parametrize(("who", "page", "url", "fields"), FORMS, ids=[f[2] for f in FORMS])
def test_a_form_without_the_session_token_is_refused_and_changes_nothing(
    app: FastAPI,
    fuzz_world: World,
    ids: dict[str, int],
    who: str,
    page: str,
    url: str,
    fields: tuple[str, ...],
) -> None:
    client = _client(app)
    sign_in(client, fuzz_world, who)
    real = _token(client, page)
    target = url.format(o=ids["objection"], m=ids["measure"])
    before = _counts(fuzz_world)

    @given(
        values=st.fixed_dictionaries({f: maybe for f in fields}),
        csrf=st.one_of(st.none(), hostile_text, st.just(real[:-1]), st.just(real.upper() + "0")),
        up=upload,
    )
    @FUZZ
    def check(
        values: dict[str, str | None], csrf: str | None, up: tuple[str, bytes] | None
    ) -> None:
        if csrf == real:
            return
        data = _form({**values, "csrf": csrf})
        r = _post(client, target, data, _files("evidence", up) if "portal" in url else None)
        # 400: the token check; 422: a part the framework cannot read (an upload without a
        # filename), refused before the view runs.
        assert r.status_code in (400, 422), (target, r.status_code, r.text[:300])
        if r.status_code == 400:
            assert "expired" in r.text.lower(), r.text[:300]
        else:
            assert r.json()["detail"][0]["loc"][0] == "body"

    check()
    assert _counts(fuzz_world) == before
    # The session survived every refused sign-out.
    assert client.get(page, follow_redirects=False).status_code == 200


def test_sign_in_without_the_form_token_is_refused(app: FastAPI, fuzz_world: World) -> None:
    client = _client(app)
    before = _counts(fuzz_world)

    @given(key=maybe, nxt=maybe, csrf=st.one_of(st.none(), hostile_text), with_cookie=st.booleans())
    @FUZZ
    def check(key: str | None, nxt: str | None, csrf: str | None, with_cookie: bool) -> None:
        client.cookies.clear()
        if with_cookie:
            sign_in_token(client)  # the form's cookie, but not its token
        # Even a right key does not open a session without the form's token.
        r = _post(
            client,
            "/sign-in",
            _form({"api_key": key or fuzz_world.keys["alice"], "next": nxt, "csrf": csrf}),
        )
        assert r.status_code == 400, r.text[:300]
        assert "set-cookie" not in r.headers or "credence_session" not in r.headers["set-cookie"]

    check()
    assert _counts(fuzz_world) == before


# -- with a valid session and token: malformed input gets a form error, never a 5xx -----------


def _signed_in(app: FastAPI, world: World, who: str, page: str) -> tuple[TestClient, str]:
    client = _client(app)
    sign_in(client, world, who)
    return client, _token(client, page)


def test_the_objection_form_answers_every_body_with_a_page(app: FastAPI, fuzz_world: World) -> None:
    client, token = _signed_in(app, fuzz_world, "alice", "/portal")

    @given(
        record_id=st.one_of(maybe, st.just(WRONG), st.just("court:J-CAROL-1")),
        statement=maybe,
        up=upload,
    )
    @FUZZ
    def check(record_id: str | None, statement: str | None, up: tuple[str, bytes] | None) -> None:
        data = _form({"record_id": record_id, "statement": statement, "csrf": token})
        r = _post(client, "/portal/objections", data, _files("evidence", up))
        malformed = (
            not record_id
            or not (statement or "").strip()
            or len(statement or "") > 5000
            or record_id not in (WRONG,)
            or (up is not None and up[0] and not up[1])
        )
        if malformed:
            assert 400 <= r.status_code < 500, (data, r.status_code)
        else:
            assert r.status_code in (303, 422), (data, r.status_code)

    check()


def test_the_evidence_form_answers_every_body_with_a_page(
    app: FastAPI, fuzz_world: World, ids: dict[str, int]
) -> None:
    client, token = _signed_in(app, fuzz_world, "alice", "/portal")

    @given(oid=st.one_of(path_id, st.just(ids["objection"])), up=upload, csrf=st.just(token))
    @FUZZ
    def check(oid: int | str, up: tuple[str, bytes] | None, csrf: str) -> None:
        r = _post(
            client, f"/portal/objections/{oid}/evidence", {"csrf": csrf}, _files("evidence", up)
        )
        if up is None or not up[0] or not up[1]:
            assert 400 <= r.status_code < 500, (oid, up, r.status_code)
        else:
            assert r.status_code in (303, 404, 422), (oid, r.status_code)

    check()


def _decisions(field: str, good: tuple[str, ...], url: str, key: str) -> Callable[..., None]:
    def test(app: FastAPI, fuzz_world: World, ids: dict[str, int]) -> None:
        client, token = _signed_in(app, fuzz_world, "rita", "/queue")

        @given(
            oid=st.one_of(path_id, st.just(ids[key])),
            choice=st.one_of(maybe, st.sampled_from(good)),
            reason=maybe,
        )
        @FUZZ
        def check(oid: int | str, choice: str | None, reason: str | None) -> None:
            data = _form({field: choice, "reason": reason, "csrf": token})
            r = _post(client, url.format(oid), data)
            if choice not in good or len(reason or "") > 5000:
                assert 400 <= r.status_code < 500, (oid, data, r.status_code)
            else:
                assert r.status_code in (303, 404, 422), (oid, data, r.status_code)

        check()

    return test


test_the_objection_decision_form_answers_every_body_with_a_page = _decisions(
    "outcome", ("upheld", "overturned"), "/queue/objections/{}", "objection"
)
test_the_measure_decision_form_answers_every_body_with_a_page = _decisions(
    "decision", ("approve", "refuse"), "/queue/measures/{}", "measure"
)


def test_the_lab_check_form_answers_every_body_with_a_page(app: FastAPI, fuzz_world: World) -> None:
    client, token = _signed_in(app, fuzz_world, "rita", "/lab")
    yamlish = st.one_of(
        maybe,
        st.sampled_from(
            ["a: [", "{", "- - -", "x: *y", "a: &a [*a]", "[" * 5000, "!!python/object:os.system x"]
        ),
        st.lists(
            st.sampled_from(["name: p", "rules:", "  - x", "version: 1", "\t", ": :"]), max_size=6
        ).map("\n".join),
    )

    @given(
        bundled=st.one_of(maybe, st.just("city-merit")),
        profile=maybe,
        text=yamlish,
        up=st.one_of(upload, yamlish.map(lambda t: ("p.yaml", (t or "").encode()))),
    )
    @FUZZ
    def check(
        bundled: str | None, profile: str | None, text: str | None, up: tuple[str, bytes] | None
    ) -> None:
        data = _form({"bundled": bundled, "profile": profile, "text": text, "csrf": token})
        r = _post(client, "/lab/check", data, _files("policy_file", up))
        assert r.status_code in (200, 413, 422), (data, up, r.status_code)

    check()


def test_the_lab_diff_form_answers_every_body_with_a_page(app: FastAPI, fuzz_world: World) -> None:
    client, token = _signed_in(app, fuzz_world, "rita", "/lab")

    @given(
        a=maybe,
        b=st.one_of(maybe, st.just("city-merit")),
        population=maybe,
        years=maybe,
        seed=maybe,
    )
    @FUZZ
    def check(
        a: str | None, b: str | None, population: str | None, years: str | None, seed: str | None
    ) -> None:
        data = _form(
            {"a": a, "b": b, "population": population, "years": years, "seed": seed, "csrf": token}
        )
        r = _post(client, "/lab/diff", data)
        # Policy A is never a known one here, so every body is malformed: a form error.
        assert r.status_code == 422, (data, r.status_code)

    check()


def test_sign_in_answers_every_key_with_a_page(world: World) -> None:
    # Its own store: the wrong keys tried here throttle the client's address.
    app = FastAPI()
    app.include_router(create_web_router(world.store, world.policy))
    client = _client(app)

    @given(key=maybe, nxt=maybe)
    @settings(FUZZ, max_examples=10)
    def check(key: str | None, nxt: str | None) -> None:
        client.cookies.clear()
        token = sign_in_token(client)
        r = _post(client, "/sign-in", _form({"api_key": key, "next": nxt, "csrf": token}))
        assert r.status_code in (400, 401, 413, 429), (key, r.status_code)

    check()
