"""The `fhirip` command: serve, migrate, reindex, token, load-demo."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fhirip.config import Settings


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env(data_dir=Path(args.data_dir))
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # keys, checkpoints and the SQLite store live here
    return settings


# The demo person's numbers are synthetic, which a production server refuses, as it should.
DEMO_REFUSED = ("The demo data set is not loaded: its identity numbers are synthetic, and this server accepts "
                "only real ones (FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS=true, as `make serve` sets, accepts "
                "synthetic numbers too).")


def load_demo(settings: Settings) -> bool:
    """Load the demo data once; returns whether it was loaded now."""
    from fhirip.bootstrap import build_services
    from fhirip.demo import demo_bundle
    from fhirip.interactions.request import FhirRequest
    from fhirip.interactions.router import handle

    services = build_services(settings)
    try:
        if services.store.run(lambda tx: tx.current("CarePlan", "demo-plan"), write=False):
            return False
        request = FhirRequest(method="POST", resource=demo_bundle(), base_url=settings.base_url or "")
        handle(services, request, [], internal=True)
        return True
    finally:
        services.store.dispose()


def _examples(base: str, data_dir: Path) -> str:
    from fhirip.demo import KARI_FNR

    fhirip = Path(sys.executable).with_name("fhirip")
    return f"""
fhirip is starting on {base}

Get a token (development keys in {data_dir}/keys; Ola Hansen is Kari's coordinator):
  export TOKEN=$({fhirip} token --data-dir {data_dir} --practitioner 9144889 --scope 'user/*.cruds')

Try:
  curl -s {base}/metadata | head -c 300; echo
  curl -s -H "Authorization: Bearer $TOKEN" '{base}/Patient/demo-kari?_pretty=true'
  curl -s -H "Authorization: Bearer $TOKEN" '{base}/CarePlan/$current?patient-identifier=urn:oid:2.16.578.1.12.4.1.4.1|{KARI_FNR}&_pretty=true'
  curl -s -H "Authorization: Bearer $TOKEN" '{base}/CarePlan?subject=Patient/demo-kari&_include=CarePlan:goal&_pretty=true'
  curl -s -H "Authorization: Bearer $TOKEN" '{base}/CarePlan/demo-plan/$render' > plan.html
  curl -s -H "Authorization: Bearer $TOKEN" '{base}/CarePlan/demo-plan/_history?_pretty=true'
  curl -s -X POST {base}/Goal -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/fhir+json' \\
       -d '{{"resourceType":"Goal","lifecycleStatus":"proposed","description":{{"text":"Delta i fotball"}},"subject":{{"reference":"Patient/demo-kari"}}}}'
"""


# gunicorn's default access line, and the X-Request-Id the answer carries (the client's or a new one).
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["FHIRIP_DATA_DIR"] = str(settings.data_dir.resolve())
    from fhirip.bootstrap import build_services

    build_services(settings).store.dispose()  # migrate once, before the workers start
    if args.no_demo:
        pass
    elif not settings.allow_synthetic_identifiers:
        print(DEMO_REFUSED, flush=True)
    elif load_demo(settings):
        print("Loaded the demo data set (Patient/demo-kari, CarePlan/demo-plan, …)")
    base = settings.base_url or f"http://{args.host}:{args.port}"
    print(_examples(base, settings.data_dir), flush=True)
    command = gunicorn_command("server.wsgi:app", host=args.host, port=args.port, workers=args.workers,
                               threads=args.threads)
    os.execv(command[0], command)
    return 0  # not reached


def gunicorn_command(app: str, *, host: str, port: int, workers: int, threads: int) -> list[str]:
    """The gunicorn command line `fhirip serve` runs `app` (a WSGI application) with: the settings
    of `server.gunicorn_conf`, the access log on standard output, threads when asked for."""
    command = [str(Path(sys.executable).with_name("gunicorn")), "--config", "python:server.gunicorn_conf",
               "--workers", str(workers), "--bind", f"{host}:{port}", "--access-logfile", "-",
               "--access-logformat", ACCESS_LOG_FORMAT, app]
    if threads > 1:
        command[1:1] = ["--worker-class", "server.gunicorn_worker.FhirThreadWorker", "--threads", str(threads)]
    return command


def cmd_migrate(args: argparse.Namespace) -> int:
    from fhirip.bootstrap import REBUILDS
    from fhirip.store import Store

    store = Store(_settings(args).effective_database_url)
    store.migrate(REBUILDS)
    print("schema is at the newest revision")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from fhirip.bootstrap import REBUILDS
    from fhirip.consent.index import rebuild
    from fhirip.search.index import reindex_all
    from fhirip.store import Store

    store = Store(_settings(args).effective_database_url)
    store.migrate(REBUILDS)
    count = store.run(lambda tx: reindex_all(tx.conn), write=True)
    store.run(lambda tx: rebuild(tx.conn), write=True)  # the access index, from the same resources
    store.dispose()
    print(f"reindexed {count} resources")
    return 0


def cmd_load_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.allow_synthetic_identifiers:
        print(DEMO_REFUSED, file=sys.stderr)
        return 1
    print("loaded" if load_demo(settings) else "demo data already present")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from fhirip.bootstrap import build_services
    from fhirip.heap import settle_heap
    from fhirip.mapping import run_import
    from fhirip.mapping.store_batches import BatchedStoreSink

    services = build_services(_settings(args))
    settle_heap()
    try:
        sink = BatchedStoreSink(services, plans_per_commit=args.plans_per_commit)
        summary = run_import(args.format, Path(args.path), sink, dry_run=args.dry_run,
                             report_path=Path(args.report) if args.report else None,
                             progress=sys.stderr.isatty(), prepare_in_background=True,
                             checkpoint=Path(args.checkpoint) if args.checkpoint else
                             services.settings.data_dir / f"import-{args.format}.checkpoint")
    finally:
        services.store.dispose()
    if args.dry_run:
        print("dry run: every check of a real run, nothing stored; the counts say what a real run would do")
    print(f"plans read {summary.plans_read}, imported {summary.plans_imported}, already done "
          f"{summary.plans_already_done}, skipped {summary.plans_skipped}; resources created "
          f"{summary.resources_created}, existing {summary.resources_existing}; values lost "
          f"{len(summary.losses)}; {summary.plans_per_second:.1f} plans/s")
    for error in summary.errors[:20]:
        print(f"  {error}", file=sys.stderr)
    return summary.exit_code


def cmd_export(args: argparse.Namespace) -> int:
    from fhirip.bootstrap import build_services
    from fhirip.mapping import export_plan_with_losses
    from fhirip.migration import plan_resources

    services = build_services(_settings(args))
    try:
        resources = plan_resources(services, args.patient)
    finally:
        services.store.dispose()
    if not resources:
        print(f"Patient/{args.patient} is not known", file=sys.stderr)
        return 1
    files, losses = export_plan_with_losses(args.format, resources)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out / name).write_bytes(content)
        print(out / name)
    for loss in losses:
        print(f"  not exported: {loss}", file=sys.stderr)
    return 0


def cmd_token(argv: list[str]) -> int:
    from fhirip.auth.cli import main as token_main

    return token_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["token"]:
        return cmd_token(argv[1:])
    parser = argparse.ArgumentParser(prog="fhirip", description="FHIR server for the individual plan")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        """A subcommand whose --help shows each option's default."""
        found = sub.add_parser(name, help=text, description=text,
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        found.add_argument("--data-dir", default=Settings.from_env().data_dir,
                           help="data directory ($FHIRIP_DATA_DIR, else ./data)")
        return found

    serve = command("serve", "run the server under gunicorn")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on")
    serve.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    serve.add_argument("--threads", type=int, default=1,
                       help="request threads per worker (more than 1 uses gunicorn's threaded worker)")
    serve.add_argument("--no-demo", action="store_true", help="start empty, without the demo data")
    serve.set_defaults(func=cmd_serve)
    for name, func, text in (("migrate", cmd_migrate, "bring the schema to the newest revision"),
                             ("reindex", cmd_reindex, "rebuild the search index from the current versions"),
                             ("load-demo", cmd_load_demo, "load the demo data set")):
        command(name, text).set_defaults(func=func)
    importer = command("import", "import legacy plans (one transaction per plan)")
    importer.add_argument("--format", required=True, choices=["planpro", "acos", "docx"])
    importer.add_argument("path", help="the export directory or file")
    importer.add_argument("--dry-run", action="store_true",
                          help="run every check a real run does (mapping, profiles, the store's rules), store nothing")
    importer.add_argument("--report", help="write the loss and error report (JSON) here")
    importer.add_argument("--checkpoint", help="resume file (default <data-dir>/import-<format>.checkpoint)")
    importer.add_argument("--plans-per-commit", type=int, default=50,
                          help="plans committed together, each in its own savepoint (a commit also "
                               "happens every 2 s); a kill loses at most these")
    importer.set_defaults(func=cmd_import)
    exporter = command("export", "export a patient's plan to a legacy format")
    exporter.add_argument("--format", required=True, choices=["planpro", "acos", "docx"])
    exporter.add_argument("--patient", required=True, help="the Patient id")
    exporter.add_argument("--out", default="export", help="directory for the files")
    exporter.set_defaults(func=cmd_export)
    sub.add_parser("token", help="mint a development bearer token (see fhirip token --help)")
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
