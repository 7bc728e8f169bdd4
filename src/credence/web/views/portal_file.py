"""The portal's downloads: the subject's whole file (JSON and PDF) and a notice's letter.

The same documents as ``GET /me/export`` and ``GET /me/notices/{id}/letter``, for a person
signed in to the site; each is a logged read with the subject's own name as actor.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from credence.audit.access import Access, log_read
from credence.letters.letter import LetterNotice, render_letter
from credence.letters.pdf import PAPERS, Paper
from credence.store.schema import Notice
from credence.subject_file.build import build_file
from credence.subject_file.model import SubjectFile
from credence.subject_file.pdf import render_file
from credence.web.app import User, Web, WebError
from credence.web.views.portal import PURPOSE, subject_of


def _paper(request: Request) -> Paper:
    asked = request.query_params.get("paper", "A4")
    for p in PAPERS:
        if p == asked:
            return p
    raise WebError(400, f"Paper {asked!r} is not A4 or Letter.")


def _download(body: bytes | str, media: str, name: str) -> Response:
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def routes(web: Web) -> APIRouter:
    """The portal's download routes."""
    router = web.router()

    def file_of(user: User) -> SubjectFile:
        sid = subject_of(user)
        with web.store.session() as session:
            access = Access(user.name, user.role, PURPOSE)
            doc = build_file(session, web.store.keys, web.policy, sid, access, web.now())
            if doc is None:
                raise WebError(404, "The store holds no data about you.")
            session.commit()
        return doc

    @router.get("/portal/file.json", response_model=None)
    def file_json(request: Request) -> Response:
        """The subject's whole file as JSON."""
        doc = file_of(web.require(request, "portal"))
        return _download(doc.model_dump_json(indent=2), "application/json", "credence-file.json")

    @router.get("/portal/file.pdf", response_model=None)
    def file_pdf(request: Request) -> Response:
        """The subject's whole file as a PDF."""
        user = web.require(request, "portal")
        paper = _paper(request)
        return _download(render_file(file_of(user), paper), "application/pdf", "credence-file.pdf")

    @router.get("/portal/notices/{notice_id}/letter", response_model=None)
    def letter(request: Request, notice_id: int) -> Response:
        """One of the subject's notices as a printable letter (PDF)."""
        user = web.require(request, "portal")
        sid, paper = subject_of(user), _paper(request)
        with web.store.session() as session:
            n = session.get(Notice, notice_id)
            if n is None or n.subject_id != sid:
                raise WebError(404, "No such notice of yours.")
            body = render_letter(LetterNotice.of(n, json.loads(n.body)), paper)
            log_read(session, web.store.keys, Access(user.name, user.role, PURPOSE), sid,
                     "notices", at=web.now())  # fmt: skip
            session.commit()
        return _download(body, "application/pdf", f"credence-notice-{notice_id}.pdf")

    return router
