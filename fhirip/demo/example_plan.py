"""Render the demo plan to docs/example-plan.html and .pdf: `python -m fhirip.demo.example_plan [docs-dir]`.

The demo data (fhirip.demo) is loaded into a fresh SQLite store through the
transaction interaction, with the plan rules on, and the plan is rendered as
of a fixed day, so the committed example changes only when the data or the
layout does.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

from fhirip.bootstrap import build_services
from fhirip.config import Settings
from fhirip.demo import demo_bundle
from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import handle
from fhirip.plans import write_hooks
from fhirip.plans.document import build_document
from fhirip.plans.fetching import Fetch
from fhirip.plans.html import page
from fhirip.plans.pdf import html_to_pdf

EXAMPLE_DAY = date(2026, 3, 1)


def render_demo(on: date = EXAMPLE_DAY) -> str:
    """The demo plan as the printable HTML document."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/example.sqlite3",
                            allow_synthetic_identifiers=True)
        services = build_services(settings)
        services.write_hooks.extend(h for h in write_hooks() if h not in services.write_hooks)
        try:
            response = handle(services, FhirRequest(method="POST", resource=demo_bundle()), [])
            if response.status >= 300:
                raise RuntimeError(f"The demo data did not load: {response.resource}")

            def work(tx):  # type: ignore[no-untyped-def]
                fetch = Fetch(tx.conn, base_url="", policy=None)
                return page(build_document(fetch.by_ids("CarePlan", ["demo-plan"])[0], fetch, on=on))

            return services.store.run(work, write=False)
        finally:
            services.store.dispose()


def main(argv: list[str]) -> int:
    docs = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    html = render_demo()
    (docs / "example-plan.html").write_text(html, encoding="utf-8")
    (docs / "example-plan.pdf").write_bytes(html_to_pdf(html))
    print(f"Wrote {docs / 'example-plan.html'} and {docs / 'example-plan.pdf'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
