"""The `dossier` command. Only this module turns exceptions into exit codes.

Exit codes: 0 written, every source ok; 1 written, some source failed or was partial;
2 usage; 3 configuration or input error; 4 plugin error; 5 every collector failed;
70 internal error.
"""

from __future__ import annotations

import difflib
import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from dossier import __version__, jobs, registry, telemetry
from dossier.config import Settings, load_config
from dossier.errors import ConfigError, DossierError, ExitCode, UnknownPluginError
from dossier.exporters import markdown, push
from dossier.incident import incident_from_options, load_incident
from dossier.model import Dossier, Incident, format_duration, rfc3339

F = TypeVar("F", bound=Callable[..., Any])


def _fail(lines: list[str], code: ExitCode) -> None:
    for line in lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(int(code))


def handle_errors(fn: F) -> F:
    """One clear line per problem and the contract's exit code; a traceback only with -v."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            _fail(list(exc.lines()), exc.exit_code)
        except DossierError as exc:
            _fail([str(exc)], exc.exit_code)
        except (click.ClickException, click.exceptions.Exit):
            raise  # usage errors: click prints them and exits 2
        except KeyboardInterrupt:
            _fail(["interrupted"], ExitCode.INTERNAL)
        except Exception as exc:
            logging.getLogger("dossier").debug("internal error", exc_info=True)
            _fail([f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)"], ExitCode.INTERNAL)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dossier")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Dossier collects the evidence for an incident postmortem and drafts its timeline.

    It pulls metrics, alert history and changes for the incident window, finds when the trouble
    started according to the telemetry, audits how (and how late) it was detected, flags the gaps
    in the monitoring, ranks the changes most likely to have caused it, and writes a draft in which
    every claim links to the query that proves it.
    """
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        telemetry.setup()  # OTEL_* variables: one line naming the variable, exit 3, when unusable
    except ConfigError as exc:
        _fail(list(exc.lines()), exc.exit_code)


@cli.command()
@click.option("--config", "-c", "config_path", required=True, type=click.Path(path_type=Path), help="Config file.")
@click.option("--incident", "incident_path", type=click.Path(path_type=Path), help="Incident file (YAML or JSON).")
@click.option("--id", "incident_id", help="Incident id, when no --incident file is given.")
@click.option("--start", help="Window start, RFC 3339 (2026-11-20T10:00:00Z).")
@click.option("--end", help="Window end, RFC 3339.")
@click.option("--service", "services", multiple=True, help="A service in the blast radius (repeatable).")
@click.option("--title", help="Incident title (default: the id).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Output folder (default: output.dir).")
@handle_errors
def collect(
    config_path: Path,
    incident_path: Path | None,
    incident_id: str | None,
    start: str | None,
    end: str | None,
    services: tuple[str, ...],
    title: str | None,
    out_dir: Path | None,
) -> None:
    """Collect the evidence of one incident and write its draft to OUT/<id>/.

    Give the incident as a file (--incident) or with --id, --start and --end. The window is
    collected together with the correlation baseline before it. Exit 0 when every source
    answered, 1 when the draft was written with gaps (failed or partial sources), 5 when every
    collector failed.
    """
    if incident_path is not None and (incident_id or start or end or services):
        raise click.UsageError("give either --incident FILE or --id/--start/--end/--service, not both")
    if incident_path is None and not (incident_id and start and end):
        raise click.UsageError("give --incident FILE, or --id, --start and --end")
    settings = load_config(config_path)
    if incident_path is not None:
        incident = load_incident(incident_path)
    else:
        assert incident_id and start and end
        incident = incident_from_options(incident_id, start, end, services, title=title)
    _warn_unknown_services(settings, incident, config_path)
    out = out_dir or settings.output_dir
    # a team's draft template is kept in the output folder, so that `replay` drafts with it too
    markdown.keep_template(settings.template, jobs.incident_folder(out, incident))
    outcome = jobs.collect(settings, incident, out)
    _summary(outcome)
    sys.exit(int(_push(outcome, settings)))


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(path_type=Path),
    help="Push the draft again to this config's output.push (updating what was pushed before).",
)
@handle_errors
def replay(folder: Path, config_path: Path | None) -> None:
    """Re-correlate and re-export FOLDER (DIR/<id>) from its evidence archive alone.

    No source is contacted; the result is byte for byte what `collect` wrote. With --config,
    the draft is then pushed to the config's output.push destinations.
    """
    settings = load_config(config_path) if config_path is not None else None
    outcome = jobs.replay(folder)
    _summary(outcome)
    sys.exit(int(_push(outcome, settings) if settings is not None else outcome.exit_code))


@cli.group()
def config() -> None:
    """Check configuration files."""


@config.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
@handle_errors
def config_validate(path: Path) -> None:
    """Report every problem in the config file PATH at once, as `path::to::key: message`."""
    settings = load_config(path)
    for hint in settings.dependency_hints():
        click.echo(f"warning: {path}: {hint}", err=True)
    click.echo(f"{path}: ok ({len(settings.collectors)} collectors, {len(settings.services)} services)")


@cli.group()
def sources() -> None:
    """Check the configured sources."""


@sources.command("check")
@click.option("--config", "-c", "config_path", required=True, type=click.Path(path_type=Path))
@handle_errors
def sources_check(config_path: Path) -> None:
    """Reach each configured source and say what works and what does not."""
    checks = jobs.check_sources(load_config(config_path))
    for c in checks:
        click.echo(f"{'ok  ' if c.ok else 'FAIL'}  {c.instance}: {c.message}")
    failed = sum(not c.ok for c in checks)
    sys.exit(int(ExitCode.OK if not failed else ExitCode.ALL_FAILED if failed == len(checks) else ExitCode.PARTIAL))


@cli.group()
def plugins() -> None:
    """Installed collectors and exporters."""


@plugins.command("list")
@handle_errors
def plugins_list() -> None:
    """List the collectors and exporters found through entry points."""
    rows = registry.describe()
    click.echo(f"{'KIND':<10} {'NAME':<16} {'DISTRIBUTION':<24} PROVIDES")
    for row in rows:
        click.echo(
            f"{row['kind']:<10} {row['name']:<16} {row['distribution'] + ' ' + row['version']:<24} {row['provides']}"
        )


@plugins.command("describe")
@click.argument("name", metavar="TYPE")
@handle_errors
def plugins_describe(name: str) -> None:
    """Print the configuration keys of collector type (or exporter format) TYPE, with their types,
    defaults and descriptions, and its sample.yaml."""
    try:
        d = registry.describe_plugin(name)
    except UnknownPluginError as exc:
        _fail([str(exc)], ExitCode.CONFIG)
        return
    click.echo(f"{d.kind} {d.name}: {d.doc}" if d.doc else f"{d.kind} {d.name}")
    click.echo(f"  plugin    {d.target} ({d.distribution})")
    click.echo(f"  provides  {d.provides}")
    if d.kind == "collector":
        click.echo(f"  config    collectors: {{{d.name}/<name>: {{...}}}}; unknown keys are errors")
    elif not d.fields:
        click.echo(f"  config    none: list it in output.formats ([{d.name}])")
    if d.fields:
        click.echo("")
        click.echo("keys (type; default):")
        for f in d.fields:
            default = "required" if f.required else f"default {f.default}"
            click.echo(f"  {f.path}  ({f.type}; {default})")
            if f.description:
                click.echo(f"      {f.description}")
    if d.sample is not None:
        click.echo("")
        click.echo(f"sample.yaml ({d.sample_path}):")
        click.echo(d.sample.rstrip("\n"))


def _worker_options(lease: float, backoff: float, per_source: int, poll: float = 1.0) -> Any:
    from dossier.worker import WorkerOptions

    if lease <= 0 or backoff < 0 or per_source < 1:
        raise click.UsageError("--lease must be > 0, --backoff >= 0 and --per-source >= 1")
    return WorkerOptions(lease=lease, backoff=backoff, per_source=per_source, poll=poll)


def _job_options(fn: F) -> F:
    """The options `serve`, `worker` and `backfill` share."""
    fn = click.option("--attempts", default=3, show_default=True, help="Tries per job before it fails.")(fn)
    fn = click.option(
        "--backoff", default=30.0, show_default=True, help="Seconds before the first retry; doubled each time."
    )(fn)
    fn = click.option("--lease", default=60.0, show_default=True, help="Seconds a claim lasts without a heartbeat.")(fn)
    fn = click.option("--per-source", default=2, show_default=True, help="Collections at once against any one source.")(
        fn
    )
    return fn


@cli.command()
@click.option("--config", "-c", "config_path", required=True, type=click.Path(path_type=Path), help="Config file.")
@click.option(
    "--incidents",
    "incidents_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The incidents: CSV, JSON lines or YAML rows in the incident file's fields.",
)
@click.option("--concurrency", default=4, show_default=True, help="Incidents collected at once.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Output folder (default: output.dir).")
@click.option("--shard", help="K/N: only the incidents whose id hashes to K of N (a pod of an Indexed Job).")
@_job_options
@handle_errors
def backfill(
    config_path: Path,
    incidents_path: Path,
    concurrency: int,
    out_dir: Path | None,
    shard: str | None,
    attempts: int,
    backoff: float,
    lease: float,
    per_source: int,
) -> None:
    """Draft many past incidents into OUT/<id>/, resumably.

    A rerun skips what is done, redoes what failed and takes back what a killed run left; a
    folder is only ever renamed into place when complete. Prints a summary; exit 0 when every
    incident was drafted with every source ok, 1 when some failed or have gaps.
    """
    from dossier import backfill as backfill_mod
    from dossier.store import open_store

    if concurrency < 1:
        raise click.UsageError("--concurrency must be at least 1")
    shard_pair = None
    if shard:
        try:
            k, n = (int(x) for x in shard.split("/"))
        except ValueError:
            raise click.UsageError(f"--shard {shard!r}: give K/N, e.g. 0/4") from None
        if not 0 <= k < n:
            raise click.UsageError(f"--shard {shard!r}: K must be in 0..N-1")
        shard_pair = (k, n)
    settings = load_config(config_path)
    incidents = backfill_mod.read_incidents(incidents_path)
    out = out_dir or settings.output_dir
    store = open_store(_store_url(settings, out))
    try:
        summary = backfill_mod.backfill(
            settings,
            incidents,
            out,
            store=store,
            concurrency=concurrency,
            options=_worker_options(lease, backoff, per_source),
            max_attempts=attempts,
            shard=shard_pair,
        )
    finally:
        store.close()
    click.echo("\n".join(summary.lines()))
    bad = summary.failed or summary.partial or summary.pending or summary.push_failed
    sys.exit(int(ExitCode.PARTIAL if bad else ExitCode.OK))


@cli.command()
@click.option("--config", "-c", "config_path", required=True, type=click.Path(path_type=Path), help="Config file.")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to listen on.")
@click.option("--workers", default=1, show_default=True, help="Worker threads in this process (0: only receive).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Output folder (default: output.dir).")
@_job_options
@handle_errors
def serve(
    config_path: Path,
    listen: str,
    workers: int,
    out_dir: Path | None,
    attempts: int,
    backoff: float,
    lease: float,
    per_source: int,
) -> None:
    """Receive webhooks (Alertmanager, PagerDuty, any tool) and collect each incident when it closes.

    POST /webhooks/alertmanager, /webhooks/pagerduty, /webhooks/incident; GET /healthz, /metrics.
    Jobs go to the store (`store:`; default a SQLite file in the output folder) before the 202.
    """
    from dossier import serve as serve_mod
    from dossier.store import open_store

    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise click.UsageError(f"--listen {listen!r}: give HOST:PORT, e.g. 0.0.0.0:8080")
    if workers < 0:
        raise click.UsageError("--workers must be 0 or more")
    settings = load_config(config_path)
    out = out_dir or settings.output_dir
    store = open_store(_store_url(settings, out))
    app = serve_mod.create_app(
        settings,
        store,
        out,
        workers=workers,
        options=_worker_options(lease, backoff, per_source),
        max_attempts=attempts,
    )
    click.echo(f"dossier serve: http://{listen} ({store.dialect} store, {workers} worker(s))", err=True)
    try:
        serve_mod.run(app, host.strip("[]"), int(port_text))
    finally:
        store.close()


def _store_url(settings: Settings, out_dir: Path) -> str:
    from dossier.store import default_store_url

    return settings.store or default_store_url(out_dir)


@cli.command()
@click.option("--config", "-c", "config_path", required=True, type=click.Path(path_type=Path), help="Config file.")
@click.option("--threads", default=1, show_default=True, help="Jobs run at once by this process.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between looks at an empty queue.")
@_job_options
@handle_errors
def worker(
    config_path: Path, threads: int, poll: float, attempts: int, backoff: float, lease: float, per_source: int
) -> None:
    """Take jobs from the shared store (`store:` in the config) until stopped (SIGTERM or Ctrl-C:
    the jobs in hand are finished first)."""
    import signal
    import threading

    from dossier.store import open_store, worker_name
    from dossier.worker import JobMetrics, Worker

    settings = load_config(config_path)
    store = open_store(_store_url(settings, settings.output_dir))
    options = _worker_options(lease, backoff, per_source, poll)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    from dossier import jobs as jobs_mod

    limits = jobs_mod.SourceLimits(per_source)
    metrics = JobMetrics()  # exported over OTLP when OTEL_* say so
    workers = [
        Worker(settings, store, name=worker_name(str(n)), options=options, limits=limits, metrics=metrics)
        for n in range(threads)
    ]
    click.echo(f"worker {worker_name()}: {threads} thread(s) on {store.dialect} store", err=True)
    pool = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    for t in pool:
        t.start()
    try:
        while any(t.is_alive() for t in pool):
            for t in pool:
                t.join(0.5)
    except KeyboardInterrupt:
        stop.set()
        for t in pool:
            t.join()
    store.close()


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md", show_default=True, help="Output format."
)
@click.option("--since", help="Only incidents that began at or after this time, RFC 3339.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), help="Write to this file (default: stdout).")
@handle_errors
def report(folder: Path, fmt: str, since: str | None, out_path: Path | None) -> None:
    """Across the drafts under FOLDER (each <id>/dossier.json): medians and 90th percentiles of the
    times to detect, acknowledge, mitigate and recover, per service and per month; how incidents
    were detected; recurring detection gaps; alerts late more than once; the kinds of change most
    often ranked first. Exit 1 when some dossier.json could not be read (each is named)."""
    from dossier import report as report_mod
    from dossier.exporters import html as html_exporter
    from dossier.exporters.json import dumps, write_atomic

    start = report_mod.parse_since(since)
    paths = report_mod.find(folder)
    if not paths:
        raise ConfigError(str(folder), ["no dossier.json under this folder (give the output folder of collect)"])
    drafts, skipped = report_mod.load(paths)
    for line in skipped:
        click.echo(f"warning: {line}; not counted", err=True)
    result = report_mod.aggregate(drafts, since=start, skipped=skipped)
    if fmt == "json":
        text = dumps(result) + "\n"
    elif fmt == "html":
        text = html_exporter.render_report(result, str(folder))
    else:
        text = markdown.render_report(result, str(folder))
    if out_path is None:
        click.echo(text, nl=False)
    else:
        write_atomic(out_path, text.encode("utf-8"))
        click.echo(f"wrote {out_path} ({result['incidents']} incidents)", err=True)
    sys.exit(int(ExitCode.PARTIAL if skipped else ExitCode.OK))


def _warn_unknown_services(settings: Settings, incident: Incident, config_path: Path) -> None:
    """One line on stderr per incident service the config does not know (a typo, most often).

    Without a `services:` section there is nothing to check against: sources are asked as told.
    """
    if not settings.services:
        return
    names = list(settings.services)
    every = {name: name for name in names} | {a: n for n, svc in settings.services.items() for a in svc.aliases}
    for service in settings.unknown_services(incident.services):
        close = difflib.get_close_matches(service, sorted(every), n=1)
        hint = f" (did you mean {every[close[0]]!r}?)" if close else ""
        click.echo(
            f"warning: service {service!r} is not under services: in {config_path}{hint}; "
            f"configured: {', '.join(names)}",
            err=True,
        )


def _push(outcome: jobs.Outcome, settings: Settings) -> ExitCode:
    """Push the written draft to output.push; a failed destination is stated and makes the exit 1."""
    code = outcome.exit_code
    for r in push.push_all(outcome.dossier, outcome.folder, settings.push):
        if r.ok:
            what = "created" if r.created else "updated"
            click.echo(f"  pushed     {r.name}: {what} {r.url or ''}".rstrip() + (f" ({r.note})" if r.note else ""))
        else:
            click.echo(f"error: {r.error} (the local draft is written: {outcome.folder})", err=True)
            code = max(code, ExitCode.PARTIAL)
    return code


def _summary(outcome: jobs.Outcome) -> None:
    d: Dossier = outcome.dossier
    m = d.milestones
    durations = d.durations
    out = [f"wrote {outcome.folder}/ ({', '.join(p.name for p in outcome.files)})"]
    events = {t.event.id: t.event for t in d.timeline}

    def line(name: str, at: object, key: str | None = None, extra: str = "") -> None:
        ev = events.get(d.milestone_evidence.get(name, ""))
        what = f"  {ev.title}" if ev else ""
        after = f" (+{format_duration(durations[key])})" if key and durations.get(key) is not None else ""
        out.append(f"  {name:<10} {rfc3339(at) or '-':<21}{after}{what}{extra}")  # type: ignore[arg-type]

    line("started", m.started)
    line("detected", m.detected, "time_to_detect")
    line("recovered", m.recovered, "time_to_recover")
    if d.detection_gaps:
        counts: dict[str, int] = {}
        for g in d.detection_gaps:
            counts[g.kind] = counts.get(g.kind, 0) + 1
        out.append("  gaps       " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if d.candidate_causes:
        top = d.candidate_causes[0]
        ev = events.get(top.evidence)
        out.append(f"  top cause  {ev.title if ev else top.evidence} (score {top.score})")
    else:
        out.append("  top cause  none claimed")
    out.append("  sources    " + ", ".join(f"{s.instance} {s.status} ({s.items})" for s in d.sources))
    click.echo("\n".join(out))


def main() -> None:
    try:
        cli(prog_name="dossier")
    finally:
        telemetry.shutdown()


if __name__ == "__main__":
    main()
