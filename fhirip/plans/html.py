"""The individual plan in plain Norwegian (bokmål) HTML, section by section along § 19.

https://hl7.org/fhir/R4/narrative.html (the narrative is limited XHTML: no head, no scripts)

`page(doc)` is the printable document for the person and their family;
`narrative_div(doc)` is the same sections as the CarePlan's `text.div`. Every
value is escaped; nothing from a resource is ever written as markup.
"""

from __future__ import annotations

from html import escape

from fhirip.plans.document import Party, PlanDocument

XHTML = "http://www.w3.org/1999/xhtml"

_STYLE = """
body { font-family: "Helvetica", "Arial", sans-serif; font-size: 11pt; color: #1a1a1a;
       max-width: 46em; margin: 2em auto; line-height: 1.45; }
h1 { font-size: 20pt; margin-bottom: 0.2em; }
h2 { font-size: 13.5pt; border-bottom: 1px solid #999; padding-bottom: 2px; margin-top: 1.4em; }
.meta { color: #444; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 0.4em 0; }
th, td { border: 1px solid #bbb; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #eee; }
.empty { color: #666; font-style: italic; }
.note { font-size: 9pt; color: #555; margin-top: 2em; }
@page { size: a4; margin: 2cm; }
@media print { body { margin: 0; } }
"""


def _e(text: object) -> str:
    return escape(str(text or ""), quote=True)


def _contact(party: Party) -> str:
    parts = [p for p in (party.organisation, ", ".join(party.telecom)) if p]
    return "; ".join(parts)


def _empty(text: str) -> str:
    return f'<p class="empty">{_e(text)}</p>'


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _about(doc: PlanDocument) -> str:
    rows = [["Status", doc.status], ["Planperiode", doc.period or "Ikke fastsatt"],
            ["Neste revisjon", doc.next_revision or "Ikke fastsatt"]]
    if doc.legal_basis:
        rows.append(["Rettsgrunnlag", doc.legal_basis])
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    situation = f"<p>{_e(doc.description)}</p>" if doc.description else ""
    return f"<table><tbody>{body}</tbody></table>{situation}"


def _goals(doc: PlanDocument) -> str:
    if not doc.goals:
        return _empty("Ingen mål er registrert ennå.")
    return _table(["Mål", "Livsområde", "Status", "Uttrykt av"],
                  [[g.text, g.domain, g.status, g.expressed_by] for g in doc.goals])


def _participants(doc: PlanDocument) -> str:
    if not doc.participants:
        return _empty("Ingen deltakere er registrert.")
    return _table(["Navn", "Rolle", "Kontakt", "Periode"],
                  [[p.party.name, p.role, _contact(p.party), p.period] for p in doc.participants])


def _coordinator(doc: PlanDocument) -> str:
    now = [c for c in doc.coordinators if c.is_current]
    earlier = [c for c in doc.coordinators if not c.is_current]
    if not now:
        text = _empty("Ingen koordinator er oppnevnt for øyeblikket. Kontakt kommunens "
                      "koordinerende enhet.")
    else:
        text = "".join(f"<p><strong>{_e(c.party.name)}</strong> ({_e(c.kind.lower())}, {_e(c.period)})"
                       f"<br/>Kontakt: {_e(_contact(c.party) or 'ikke oppgitt')}</p>" for c in now)
    if earlier:
        text += "<p>Tidligere koordinatorer: " + _e("; ".join(
            f"{c.party.name} ({c.period})" for c in earlier)) + "</p>"
    return text


def _measures(doc: PlanDocument) -> str:
    if not doc.measures:
        return _empty("Ingen tiltak er registrert ennå.")
    ordered = sorted(doc.measures, key=lambda m: not m.is_open)
    return _table(["Tiltak", "Ansvarlig", "Status", "Tidsrom og omfang", "Neste evaluering", "Mål"],
                  [[m.description, ", ".join(m.responsible), m.status, m.starts, m.next_evaluation,
                    "; ".join(m.goals)] for m in ordered])


def _revision(doc: PlanDocument) -> str:
    period = doc.period or "ikke fastsatt"
    revision = doc.next_revision or "ikke fastsatt"
    return (f"<p>Planen gjelder {_e(period)}. Neste revisjon av planen: {_e(revision)}. "
            "Tiltakenes evalueringsdatoer står i tabellen over.</p>")


def _consents(doc: PlanDocument) -> str:
    if not doc.consents:
        return _empty("Det er ikke registrert samtykke som du har tilgang til å se.")
    return _table(["Samtykke", "Status", "Gitt", "Gitt av", "Gjelder"],
                  [[c.kind, c.status, c.given, c.given_by, c.period] for c in doc.consents])


def _cooperation(doc: PlanDocument) -> str:
    if not doc.cooperation:
        return _empty("Ingen andre tjenester eller etater er registrert.")
    return "<ul>" + "".join(f"<li>{_e(p.name)}{(' – ' + _e(_contact(p))) if _contact(p) else ''}</li>"
                            for p in doc.cooperation) + "</ul>"


# (heading, § 19 letter(s), builder) in the order of the plan content list.
SECTIONS = (
    ("Om planen", "", _about),
    ("Mine mål", "a", _goals),
    ("Deltakere i planarbeidet", "b, d", _participants),
    ("Koordinator", "c", _coordinator),
    ("Tiltak", "e, f", _measures),
    ("Planperiode og revisjon", "g", _revision),
    ("Samtykke", "h", _consents),
    ("Samarbeid med andre tjenester og etater", "i", _cooperation),
)


def _sections(doc: PlanDocument, heading: str) -> str:
    return "".join(f"<{heading}>{_e(title)}</{heading}>{build(doc)}" for title, _, build in SECTIONS)


def _heading(doc: PlanDocument) -> str:
    person = doc.person.name if doc.person else ""
    born = f", født {doc.birth_date}" if doc.birth_date else ""
    return f"<h1>{_e(doc.title)}</h1><p class=\"meta\">{_e(person)}{_e(born)}</p>"


def page(doc: PlanDocument) -> str:
    """The whole plan as a printable HTML document."""
    return ("<!DOCTYPE html>\n"
            f'<html lang="nb"><head><meta charset="utf-8"/><title>{_e(doc.title)}</title>'
            f"<style>{_STYLE}</style></head><body>"
            f"{_heading(doc)}{_sections(doc, 'h2')}"
            f'<p class="note">Utskrift {_e(doc.printed)}. Planen er laget etter forskriftens '
            "innholdsliste for individuell plan (§ 19 a–i). Spør koordinatoren din hvis noe er "
            "feil eller mangler.</p></body></html>")


def narrative_div(doc: PlanDocument) -> str:
    """The same sections as `page`, as a FHIR narrative div."""
    return f'<div xmlns="{XHTML}">{_heading(doc)}{_sections(doc, "h2")}</div>'
