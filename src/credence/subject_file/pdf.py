"""The subject's file as a PDF: the same content as the JSON document, section by section."""

from __future__ import annotations

from credence.letters.letter import date_in_words
from credence.letters.pdf import Paper, Pdf
from credence.subject_file.model import SubjectFile


def render_file(doc: SubjectFile, paper: Paper = "A4") -> bytes:
    """The subject's file as PDF bytes."""
    pdf = Pdf(paper)
    pdf.heading("Your file", 15)
    pdf.para(f"Subject: {doc.subject_id}")
    pdf.para(f"Policy {doc.policy_id}, as of {date_in_words(doc.as_of)}.")
    if doc.request_ref:
        pdf.para(f"Made on the written request {doc.request_ref}.")
    a = doc.assessment
    pdf.heading("Assessment")
    if a is None:
        pdf.para("No version of the policy is in force on this day.")
    else:
        pdf.para(f"Score {a.score}, grade {a.grade}, policy version {a.policy_version}.")
        for outcome in a.reasons:
            pdf.para(f"{outcome.get('outcome')} {outcome.get('id')}:", bold=True)
            for r in outcome.get("reasons", []):
                pdf.para(f"{r.get('rank')}. {r.get('text')} Legal basis: {r.get('legal_basis')}.")
        if a.way_back:
            for g in a.way_back.get("goals", []):
                pdf.para(f"Way back: {g.get('goal')} {g.get('id')} on {g.get('on')}.")
    pdf.heading(f"Records ({len(doc.records)})")
    for r in doc.records:
        pdf.para(
            f"{r.record_id}: {r.kind} on {r.occurred_on}, reported by {r.source}, legal basis "
            f"{r.legal_basis or 'none cited'}, status {r.status}."
        )
        for c in r.history:
            pdf.para(f"  {c.at.isoformat()}: {c.status}" + (f" ({c.ref})" if c.ref else ""))
    pdf.heading(f"Notices ({len(doc.notices)})")
    for n in doc.notices:
        served = f"served {n.served_on}" if n.served_on else "not served"
        deadline = f", deadline {n.deadline}" if n.deadline else ""
        delivery = f"; delivery {n.delivery.status}" if n.delivery else ""
        pdf.para(
            f"{n.ref} ({n.about}): {n.status}, issued {n.issued_on}, {served}{deadline}{delivery}."
        )
    listings = [f"{e.list_id}: {e.status}, {e.entered_on} to {e.exited_on}" for e in doc.listings]
    measures = [f"{m.measure_id}: {m.status}, {m.in_force_from} to {m.until}" for m in doc.measures]
    objections = [
        f"{o.record_id}: {o.status}, decision {o.outcome or 'pending'}" for o in doc.objections
    ]
    reads = [
        f"{x.at.isoformat()}: {x.actor} ({x.role}), {x.what}: {x.purpose}" for x in doc.accesses
    ]
    versions = [
        f"{v.version} from {v.effective_from}" + (" (applied)" if v.applied else "")
        for v in doc.policy_versions
    ]
    for title, items in (
        ("Listings", listings),
        ("Measures", measures),
        ("Objections", objections),
        ("Who read your data", reads),
        ("Policy versions", versions),
    ):
        pdf.heading(f"{title} ({len(items)})")
        for line in items:
            pdf.para(line)
    return pdf.bytes()
