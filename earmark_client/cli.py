"""The ``earmark`` command: log in, create projects, upload audio, import, export, train.

Every command exits 0 on success and non-zero with the server's error message on stderr
otherwise (1: the server refused or a job failed; 2: wrong usage or no login). Progress bars
go to stderr and only when it is a terminal, so stdout stays clean for scripts.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from earmark_client import config
from earmark_client.api import ApiError, Client, dumps
from earmark_client.progress import ProgressBar, format_bytes

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Uploads go in requests of at most this many files and bytes (the server's multipart
# limits are 1,000 files; a big request that fails costs a lot to resend).
UPLOAD_BATCH_FILES = 20
UPLOAD_BATCH_BYTES = 256 * 1024 * 1024
_POLL_FIRST_S, _POLL_MAX_S = 0.2, 2.0
_FINAL_JOB_STATES = frozenset({"succeeded", "failed", "cancelled"})


class UsageError(Exception):
    """Wrong usage or missing setup: exit 2."""


def _out(text: str) -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _client(args: argparse.Namespace) -> Client:
    settings = config.load()
    if settings is None:
        raise UsageError(
            "not logged in: run `earmark login --url URL --username NAME`, "
            "or set EARMARK_URL and EARMARK_TOKEN"
        )
    return Client(settings.url, token=settings.token)


def _progress(label: str, **kwargs: Any) -> ProgressBar:
    return ProgressBar(label, **kwargs)


Describe = Callable[[dict[str, Any]], tuple[Any, Any, str]]


def _poll(
    client: Client, path: str, *, label: str, describe: Describe, timeout_s: float | None
) -> dict[str, Any]:
    """GET ``path`` until the job is final, drawing ``describe(job) -> (done, total, extra)``."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    delay = _POLL_FIRST_S
    with _progress(label) as bar:
        while True:
            job: dict[str, Any] = client.get(path)
            done, total, extra = describe(job)
            bar.update(done or 0, total=total or None, extra=extra)
            if job.get("state") in _FINAL_JOB_STATES:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise ApiError(f"gave up waiting after {timeout_s:.0f} s; {path} is {job['state']}")
            time.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX_S)


def _job_progress(job: dict[str, Any]) -> tuple[Any, Any, str]:
    progress = job.get("progress") or {}
    return progress.get("done"), progress.get("total"), str(job.get("state", ""))


# --- commands -------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {args.username} at {args.url}: ")
    if not password:
        raise UsageError("no password given")
    client = Client(args.url)
    body = client.post("/api/auth/token/", {"username": args.username, "password": password})
    token = str(body["token"])
    me = Client(args.url, token=token).get("/api/me/")
    path = config.save(url=args.url, token=token, username=str(me["username"]))
    _out(f"Logged in to {args.url} as {me['username']}; token saved in {path}")
    return EXIT_OK


def cmd_projects_list(args: argparse.Namespace) -> int:
    projects = list(_client(args).pages("/api/projects/"))
    if args.json:
        _out(dumps(projects))
        return EXIT_OK
    if not projects:
        _err("no projects")
        return EXIT_OK
    width = max(len(str(p["id"])) for p in projects)
    for p in projects:
        _out(f"{p['id']:>{width}}  {p.get('my_role') or '':<9}  {p['name']}")
    return EXIT_OK


def cmd_projects_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name}
    if args.schema:
        body["label_schema"] = _read_json(Path(args.schema), what="schema")
    if args.instructions is not None:
        body["instructions"] = args.instructions
    if args.annotations_per_item is not None:
        body["annotations_per_item"] = args.annotations_per_item
    project = _client(args).post("/api/projects/", body)
    if args.json:
        _out(dumps(project))
    else:
        _out(str(project["id"]))
        _err(f"created project {project['id']} {project['name']!r}")
    return EXIT_OK


def _read_json(path: Path, *, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise UsageError(f"{what} file {path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} file {path} is not valid JSON: {exc}") from exc


def _upload_batches(paths: list[Path]) -> list[list[Path]]:
    batches: list[list[Path]] = []
    current: list[Path] = []
    size = 0
    for path in paths:
        file_size = path.stat().st_size
        if current and (
            len(current) >= UPLOAD_BATCH_FILES or size + file_size > UPLOAD_BATCH_BYTES
        ):
            batches.append(current)
            current, size = [], 0
        current.append(path)
        size += file_size
    if current:
        batches.append(current)
    return batches


def _offset_progress(bar: ProgressBar, *, base: int, limit: int) -> Callable[[int], None]:
    """Bytes sent in one request, drawn as a share of the whole upload."""
    return lambda sent: bar.update(min(base + sent, limit))


def cmd_upload(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"not a file: {', '.join(missing)}")
    client = _client(args)
    totals = {"created": 0, "duplicates": 0, "rejected": 0}
    rejected: list[str] = []
    total_bytes = sum(p.stat().st_size for p in paths)
    done_bytes = 0
    with _progress("upload", total=total_bytes, as_bytes=True) as bar:
        for batch in _upload_batches(paths):
            files = [("archive" if p.suffix.lower() == ".zip" else "files", p) for p in batch]
            try:
                body = client.upload(
                    f"/api/projects/{args.project}/items/upload/",
                    files=files,
                    on_progress=_offset_progress(bar, base=done_bytes, limit=total_bytes),
                )
            except ApiError as exc:
                if exc.code != "invalid_audio":  # every file of the batch rejected: go on
                    raise
                body = {"created": 0, "duplicates": 0, "rejected": len(batch), "files": []}
                rejected += [f"{name}: {msgs[0]}" for name, msgs in exc.fields.items()]
            for key in totals:
                totals[key] += int(body.get(key, 0))
            rejected += [
                f"{f['name']}: {f['error']}" for f in body["files"] if f["status"] == "rejected"
            ]
            done_bytes += sum(p.stat().st_size for p in batch)
            bar.update(done_bytes)
    for line in rejected:
        _err(f"rejected {line}")
    _out(
        f"{totals['created']} created, {totals['duplicates']} duplicates, "
        f"{totals['rejected']} rejected"
    )
    return EXIT_FAILED if totals["rejected"] else EXIT_OK


def _parse_pairs(pairs: Sequence[str] | None, *, flag: str) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON when they parse (numbers, true, lists), else text."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} takes key=value, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"not a file: {path}")
    options = _parse_pairs(args.option, flag="--option")
    client = _client(args)
    data = {"format": args.format}
    if options:
        data["options"] = json.dumps(options)
    size = path.stat().st_size
    with _progress("upload", total=size, as_bytes=True) as bar:
        job = client.upload(
            f"/api/projects/{args.project}/imports/",
            files=[("file", path)],
            data=data,
            on_progress=lambda sent: bar.update(min(sent, size)),
        )
    _err(f"import {job['id']} {job['state']}")
    if args.no_wait:
        _out(str(job["id"]))
        return EXIT_OK
    job = _poll(
        client, f"/api/imports/{job['id']}/", label=f"import {job['id']}",
        describe=_job_progress, timeout_s=args.timeout,
    )  # fmt: skip
    report = job.get("report") or {}
    if args.json:
        _out(dumps(job))
    else:
        counts = ", ".join(
            f"{report[k]} {k}"
            for k in ("rows", "created", "updated", "unchanged", "rejected")
            if k in report
        )
        _out(f"import {job['id']} {job['state']}" + (f": {counts}" if counts else ""))
    errors = report.get("errors") or []
    for error in errors[:50]:
        _err(f"row {error.get('row')}: {error.get('field')}: {error.get('reason')}")
    if len(errors) > 50:
        _err(f"... and {len(errors) - 50} more errors (--json prints them all)")
    for unmapped in (report.get("unmapped") or [])[:20]:
        _err(f"not mapped: {unmapped}")
    if job["state"] != "succeeded":
        _err(f"import {job['id']} {job['state']}: {job.get('error') or 'see the errors above'}")
        return EXIT_FAILED
    return EXIT_FAILED if errors else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.is_dir():
        raise UsageError(f"{out} is a folder; give a file name with -o")
    body: dict[str, Any] = {"format": args.format, "source": args.source}
    if args.model_version is not None:
        body["model_version"] = args.model_version
    filters = _parse_pairs(args.filter, flag="--filter")
    if filters:
        body["filters"] = filters
    client = _client(args)
    job = client.post(f"/api/projects/{args.project}/exports/", body)
    _err(f"export {job['id']} {job['state']}")
    job = _poll(
        client, f"/api/exports/{job['id']}/", label=f"export {job['id']}",
        describe=_job_progress, timeout_s=args.timeout,
    )  # fmt: skip
    if job["state"] != "succeeded":
        _err(f"export {job['id']} {job['state']}: {job.get('error') or 'no reason given'}")
        return EXIT_FAILED
    download = job.get("download_url") or f"/api/exports/{job['id']}/download/"
    with _progress("download", total=job.get("size_bytes") or None, as_bytes=True) as bar:
        size = client.download(
            download, out, on_progress=lambda done, total: bar.update(done, total=total)
        )
    _out(str(out))
    _err(f"export {job['id']}: {format_bytes(size)} written to {out}")
    return EXIT_OK


def _training_progress(run: dict[str, Any]) -> tuple[Any, Any, str]:
    p = run.get("progress") or {}
    parts = [str(run.get("state", ""))]
    if p.get("phase"):
        parts.append(str(p["phase"]))
    if p.get("epoch") is not None:
        parts.append(f"epoch {p['epoch']}/{p.get('epochs', '?')}")
    if isinstance(p.get("loss"), int | float):
        parts.append(f"loss {p['loss']:.4f}")
    if isinstance(p.get("eta_s"), int | float):
        parts.append(f"eta {p['eta_s']:.0f} s")
    return p.get("epoch"), p.get("epochs"), " ".join(parts)


def cmd_connections_list(args: argparse.Namespace) -> int:
    connections = list(_client(args).pages(f"/api/projects/{args.project}/connections/"))
    if args.json:
        _out(dumps(connections))
        return EXIT_OK
    for c in connections:
        where = c["root"] if c["kind"] == "folder" else f"s3://{c['bucket']}/{c['root']}"
        _out(f"{c['id']}  {c['kind']:<6}  {c['item_count']:>8} items  {c['name']}  {where}")
    return EXIT_OK


def cmd_connections_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name}
    if args.folder:
        body.update(kind="folder", root=args.folder)
    else:
        bucket, _, prefix = args.s3.removeprefix("s3://").partition("/")
        body.update(kind="s3", bucket=bucket, root=prefix)
        for key in ("endpoint_url", "region", "access_key_id"):
            if getattr(args, key):
                body[key] = getattr(args, key)
        if args.secret_access_key_stdin:
            body["secret_access_key"] = sys.stdin.readline().rstrip("\r\n")
        elif args.access_key_id:
            body["secret_access_key"] = getpass.getpass(f"Secret for {args.access_key_id}: ")
    connection = _client(args).post(f"/api/projects/{args.project}/connections/", body)
    _out(str(connection["id"]))
    _err(f"created connection {connection['id']} {connection['name']!r}")
    return EXIT_OK


def cmd_connections_sync(args: argparse.Namespace) -> int:
    _err(f"syncing connection {args.connection} (listing every file; this can take a while)")
    # A sync lists the whole folder or prefix inside the request: allow it an hour.
    response = _client(args).request(
        "POST", f"/api/connections/{args.connection}/sync/", json={}, timeout=(10, 3600)
    )
    counts = response.json()
    _out(f"{counts['found']} found, {counts['created']} new, {counts['existing']} already there")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    client = _client(args)
    # --order-queue: a cold start, the queue ordered from the project's embedding model
    what, path = (
        ("queue order run", "queue-order")
        if args.order_queue
        else ("training run", "training-runs")
    )
    run = client.post(f"/api/projects/{args.project}/{path}/", {})
    _out(str(run["id"]))
    _err(f"{what} {run['id']} {run['state']}")
    if not args.wait:
        return EXIT_OK
    run = _poll(
        client, f"/api/training-runs/{run['id']}/", label=f"{what} {run['id']}",
        describe=_training_progress, timeout_s=args.timeout,
    )  # fmt: skip
    _err(f"{what} {run['id']} {_training_progress(run)[2]}")
    if run["state"] != "succeeded":
        _err(f"{what} {run['id']} {run['state']}: {run.get('error') or 'no reason given'}")
        return EXIT_FAILED
    if args.json:
        _out(dumps(run))
    return EXIT_OK


# --- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="earmark",
        description="Command-line client for Earmark's REST API. The server and token come "
        "from `earmark login` (~/.config/earmark/config.json) or EARMARK_URL and EARMARK_TOKEN.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    login = sub.add_parser("login", help="get an API token and save it")
    login.add_argument("--url", required=True, help="server address, e.g. http://127.0.0.1:8000")
    login.add_argument("--username", required=True)
    login.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    login.set_defaults(func=cmd_login)

    projects = sub.add_parser("projects", help="list or create projects")
    projects_sub = projects.add_subparsers(dest="projects_command", required=True, metavar="ACTION")
    listing = projects_sub.add_parser("list", help="projects you are a member of")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_projects_list)
    create = projects_sub.add_parser("create", help="create a project; prints its id")
    create.add_argument("--name", required=True)
    create.add_argument("--schema", help="label schema JSON file (see docs/api.md)")
    create.add_argument("--instructions")
    create.add_argument("--annotations-per-item", type=int)
    create.add_argument("--json", action="store_true", help="print the project as JSON")
    create.set_defaults(func=cmd_projects_create)

    upload = sub.add_parser("upload", help="upload audio files and zip archives to a project")
    upload.add_argument("project", type=int, help="project id")
    upload.add_argument("files", nargs="+", help="audio files; .zip files go in as archives")
    upload.set_defaults(func=cmd_upload)

    imp = sub.add_parser("import", help="import a file (labels, manifest, ...) and wait for it")
    imp.add_argument("project", type=int, help="project id")
    imp.add_argument("file")
    imp.add_argument(
        "--format", required=True,
        choices=["native", "manifest", "label_studio", "raven", "audacity", "predictions"],
    )  # fmt: skip
    imp.add_argument(
        "--option", action="append", metavar="KEY=VALUE",
        help="an import option, repeatable (e.g. connection_id=3, target=dawn.wav)",
    )  # fmt: skip
    imp.add_argument("--no-wait", action="store_true", help="print the job id and return")
    imp.add_argument("--timeout", type=float, help="give up waiting after this many seconds")
    imp.add_argument("--json", action="store_true", help="print the finished job as JSON")
    imp.set_defaults(func=cmd_import)

    exp = sub.add_parser("export", help="export a project to a file")
    exp.add_argument("project", type=int, help="project id")
    exp.add_argument(
        "--format", required=True,
        choices=["native", "label_studio", "csv", "raven", "audacity", "audiofolder"],
    )  # fmt: skip
    exp.add_argument(
        "--source", default="all", choices=["all", "consensus", "reviewed", "predictions"]
    )
    exp.add_argument("--model-version", type=int, help="with --source predictions")
    exp.add_argument(
        "--filter", action="append", metavar="KEY=VALUE",
        help="a filter, repeatable (e.g. annotation_state=submitted, label=dog)",
    )  # fmt: skip
    exp.add_argument("-o", "--output", required=True, help="file to write")
    exp.add_argument("--timeout", type=float, help="give up waiting after this many seconds")
    exp.set_defaults(func=cmd_export)

    connections = sub.add_parser(
        "connections", help="audio read in place: server folders and S3 bucket prefixes"
    )
    connections_sub = connections.add_subparsers(
        dest="connections_command", required=True, metavar="ACTION"
    )
    c_list = connections_sub.add_parser("list", help="a project's connections")
    c_list.add_argument("project", type=int, help="project id")
    c_list.add_argument("--json", action="store_true", help="print JSON")
    c_list.set_defaults(func=cmd_connections_list)
    c_create = connections_sub.add_parser("create", help="add a connection; prints its id")
    c_create.add_argument("project", type=int, help="project id")
    c_create.add_argument("--name", required=True)
    where = c_create.add_mutually_exclusive_group(required=True)
    where.add_argument("--folder", help="a folder on the server, inside EARMARK_FOLDER_ROOTS")
    where.add_argument("--s3", metavar="BUCKET/PREFIX", help="e.g. s3://recordings/site-a")
    c_create.add_argument("--endpoint-url", help="S3-compatible endpoint (not needed for AWS)")
    c_create.add_argument("--region")
    c_create.add_argument("--access-key-id", help="asks for the secret unless --secret-...-stdin")
    c_create.add_argument(
        "--secret-access-key-stdin", action="store_true", help="read the secret from stdin"
    )
    c_create.set_defaults(func=cmd_connections_create)
    c_sync = connections_sub.add_parser("sync", help="register the files not registered yet")
    c_sync.add_argument("connection", type=int, help="connection id")
    c_sync.set_defaults(func=cmd_connections_sync)

    train = sub.add_parser("train", help="start a training run; prints its id")
    train.add_argument("project", type=int, help="project id")
    train.add_argument("--wait", action="store_true", help="follow the run until it ends")
    train.add_argument("--timeout", type=float, help="give up waiting after this many seconds")
    train.add_argument("--json", action="store_true", help="with --wait, print the run as JSON")
    train.add_argument(
        "--order-queue",
        action="store_true",
        help="instead of training, order the queue from the project's embedding model "
        "(a cold start: the first items asked are one typical item of each cluster)",
    )
    train.set_defaults(func=cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage error
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args.func(args))
    except UsageError as exc:
        _err(f"earmark: {exc}")
        return EXIT_USAGE
    except ApiError as exc:
        _err(f"earmark: {exc}")
        return EXIT_FAILED
    except ValueError as exc:  # e.g. an unreadable config file
        _err(f"earmark: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("earmark: interrupted")
        return 130
