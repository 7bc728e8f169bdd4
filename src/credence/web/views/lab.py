"""The policy lab: lint a policy, run its embedded tests, and diff two versions' impact.

Nothing here touches the site's store: a policy is picked from the bundled library or
uploaded, and the impact diff runs a seeded synthetic population through two scratch stores,
one per policy, with the real ingest and due process (``credence.sim.diff``), so the same
inputs always give the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from credence import charts
from credence.book.content import book_of
from credence.book.write import render_html
from credence.engine.spec import CaseResult, run_all
from credence.errors import CredenceError, PolicyError
from credence.policy import library
from credence.policy.lint import CODES, Finding, lint
from credence.policy.load import PolicySet, loads_policy
from credence.sim.limited import LimitExceeded, Limits, diff_refs, run_limited
from credence.sim.scenarios import Scenario
from credence.web.app import User, Web, WebError

MAX_POLICY = 1024 * 1024
POPULATION = (100, 10000)
YEARS = (1, 10)
LIMITS = Limits(seconds=120.0, memory_mib=1024)
"""An impact run's limits: both policies go through the real ingest and due process, so a run
of 500 people over 2 years takes about 15 s; much larger runs are stopped."""


@dataclass(frozen=True)
class Check:
    """The lint findings and test results of one policy (or why it could not be read)."""

    name: str
    problems: tuple[tuple[str, str], ...] = ()
    findings: tuple[Finding, ...] = ()
    results: tuple[CaseResult, ...] = ()
    versions: tuple[str, ...] = ()

    @property
    def errors(self) -> int:
        """Lint errors (the policy cannot run with any)."""
        return sum(f.severity == "error" for f in self.findings)


def refs() -> list[str]:
    """Every bundled policy, and each version of a multi-version one as ``name@version``."""
    out = []
    for name in library.names():
        out.append(name)
        try:
            policy = library.resolve(name)
        except PolicyError:
            continue
        if len(policy.versions) > 1:
            out += [f"{name}@{v.version}" for v in policy.versions]
    return out


def check(policy: PolicySet, name: str, profile: str) -> Check:
    """Lint ``policy`` under ``profile`` and run its embedded tests."""
    findings = lint(policy, "eu" if profile == "eu" else "default")
    try:
        results = tuple(run_all(policy))
    except (ValueError, OverflowError) as exc:
        # A test case the schema accepts but the evaluator cannot build (a record effective
        # before it occurred, a date past year 9999): a problem of the file, not a 500.
        return Check(name, problems=((policy.source, f"an embedded test cannot run: {exc}"),))
    return Check(
        name,
        findings=tuple(findings),
        results=results,
        versions=tuple(f"{v.version} (from {v.effective_from})" for v in policy.versions),
    )


def read_policy(upload: UploadFile | None, text: str) -> tuple[str, str] | None:
    """The uploaded or pasted policy as (name, text), or None when neither was given."""
    if upload is not None and upload.filename:
        data = upload.file.read(MAX_POLICY + 1)
        if len(data) > MAX_POLICY:
            raise ValueError("The policy file is larger than 1 MiB.")
        try:
            return upload.filename, data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("The policy file is not UTF-8 text.") from None
    if text.strip():
        return "pasted policy", text
    return None


def _int(value: str, field: str, bounds: tuple[int, int], errors: dict[str, str]) -> int:
    try:
        number = int(value)
    except ValueError:
        errors[field] = f"Enter a whole number from {bounds[0]} to {bounds[1]}."
        return bounds[0]
    if not bounds[0] <= number <= bounds[1]:
        errors[field] = f"Enter a whole number from {bounds[0]} to {bounds[1]}."
    return number


def routes(web: Web) -> APIRouter:
    """The policy lab's routes."""
    router = web.router()

    def show(
        request: Request, user: User, extra: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        context: dict[str, Any] = {
            "refs": refs(),
            "names": library.names(),
            "codes": CODES,
            "form": {},
            "errors": {},
            "check": None,
            "diff": None,
            "part": "",
            **extra,
        }
        partial = request.headers.get("HX-Request") == "true" and "part" in extra
        template = f"_lab_{extra['part']}.html" if partial else "lab.html"
        if partial:
            status = 200  # htmx swaps only successful responses; the errors are in the fragment
        return web.render(request, template, context, user=user, status=status)

    @router.get("/lab")
    def lab(request: Request) -> HTMLResponse:
        """The lab's forms."""
        user = web.require(request, "lab")
        return show(request, user, {})

    @router.get("/lab/book/{name}")
    def lab_book(request: Request, name: str) -> HTMLResponse:
        """A bundled policy's book: each rule beside its law, the analysis, the worked tests."""
        web.require(request, "lab")
        if name not in library.names():
            raise WebError(404, f"No bundled policy is called {name!r}.")
        return HTMLResponse(render_html(book_of(library.resolve(name))))

    @router.post("/lab/check")
    def lab_check(
        request: Request,
        bundled: str = Form(""),
        profile: str = Form("default"),
        text: str = Form(""),
        csrf: str = Form(""),
        policy_file: UploadFile | None = File(None),
    ) -> HTMLResponse:
        """Lint a bundled, uploaded or pasted policy and run its embedded tests."""
        user = web.require(request, "lab")
        web.check_csrf(user, csrf)
        form = {"bundled": bundled, "profile": profile, "text": text}
        errors: dict[str, str] = {}
        result: Check | None = None
        try:
            given = read_policy(policy_file, text)
            if given is not None:
                name, body = given
                result = check(loads_policy(body, name), name, profile)
            elif bundled in library.names():
                result = check(library.resolve(bundled), bundled, profile)
            else:
                errors["bundled"] = "Pick a bundled policy, upload a policy file or paste one."
        except ValueError as exc:
            errors["policy_file"] = str(exc)
        except PolicyError as exc:
            result = Check(exc.source, problems=tuple(exc.problems))
        status = 422 if errors or (result is not None and result.problems) else 200
        extra = {"part": "check", "form": form, "errors": errors, "check": result}
        return show(request, user, extra, status)

    @router.post("/lab/diff")
    def lab_diff(
        request: Request,
        a: str = Form(""),
        b: str = Form(""),
        population: str = Form("500"),
        years: str = Form("2"),
        seed: str = Form("1"),
        csrf: str = Form(""),
    ) -> HTMLResponse:
        """The impact of moving from policy A to policy B over a synthetic population."""
        user = web.require(request, "lab")
        web.check_csrf(user, csrf)
        form = {"a": a, "b": b, "population": population, "years": years, "seed": seed}
        errors: dict[str, str] = {}
        known = refs()
        if a not in known:
            errors["a"] = "Pick policy A from the list."
        if b not in known:
            errors["b"] = "Pick policy B from the list."
        n = _int(population, "population", POPULATION, errors)
        y = _int(years, "years", YEARS, errors)
        s = _int(seed, "seed", (0, 2**31 - 1), errors)
        report: dict[str, Any] | None = None
        if not errors:
            try:
                report = run_limited(
                    diff_refs, (a, b, Scenario(population=n, years=y, seed=s)), LIMITS
                )
            except LimitExceeded as exc:
                errors["population"] = f"The impact run did not finish: {exc}."
            except CredenceError as exc:
                errors["a"] = f"The diff could not run: {exc}"
        chart = None
        if report is not None:
            moves = [(f"{m['from']} → {m['to']}", m["subjects"]) for m in report["grade_moves"]]
            chart = charts.bar_chart(
                moves,
                title="Subjects changing grade (A → B)",
                x_label="subjects",
                y_label="grade move",
            )
        extra = {
            "part": "diff",
            "form": form,
            "errors": errors,
            "diff": report,
            "diff_chart": chart,
        }
        return show(request, user, extra, 422 if errors else 200)

    return router
