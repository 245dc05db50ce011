"""The `earmark` command against the real application (pytest-django's live server)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

from backend.annotations.models import Segment
from backend.audio.models import AudioItem
from backend.predictions.models import TrainingRun
from backend.projects.models import Membership, Project
from earmark_client.progress import ProgressBar
from tests.audio_gen import write_tone
from tests.client.conftest import PASSWORD
from tests.factories import DEMO_SCHEMA, UserFactory


def _schema_file(tmp_path: Path) -> Path:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(DEMO_SCHEMA))
    return path


def _project(earmark, tmp_path: Path, name: str = "Birds") -> int:
    created = earmark("projects", "create", "--name", name, "--schema", str(_schema_file(tmp_path)))
    assert created.code == 0, created.err
    return int(created.out.strip())


def test_login_stores_the_token_privately(live_server, cli_user, earmark, config_home):
    # when the user logs in with the password on standard input
    done = earmark(
        "login", "--url", live_server.url, "--username", cli_user.username, "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    # then the token is saved in ~/.config/earmark/config.json, readable by the owner only
    assert done.code == 0, done.err
    path = config_home / ".config" / "earmark" / "config.json"
    assert str(path) in done.out
    saved = json.loads(path.read_text())
    assert saved["url"] == live_server.url
    assert saved["username"] == cli_user.username
    assert len(saved["token"]) >= 20
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PASSWORD not in path.read_text()


def test_a_wrong_password_is_a_clear_error(live_server, cli_user, earmark, config_home):
    done = earmark(
        "login", "--url", live_server.url, "--username", cli_user.username, "--password-stdin",
        stdin="nope\n",
    )  # fmt: skip
    assert done.code == 1
    assert "wrong username or password" in done.err
    assert "authentication_failed" in done.err
    assert not (config_home / ".config" / "earmark" / "config.json").exists()


def test_commands_need_a_login(earmark):
    done = earmark("projects", "list")
    assert done.code == 2
    assert "not logged in" in done.err


def test_an_unreachable_server_is_a_clear_error(earmark, monkeypatch):
    monkeypatch.setenv("EARMARK_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("EARMARK_TOKEN", "x" * 40)
    done = earmark("projects", "list")
    assert done.code == 1
    assert "cannot reach http://127.0.0.1:9" in done.err


def test_environment_variables_replace_the_login(live_server, cli_user, earmark, monkeypatch):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=cli_user)
    monkeypatch.setenv("EARMARK_URL", live_server.url)
    monkeypatch.setenv("EARMARK_TOKEN", token.key)
    assert earmark("projects", "list").code == 0
    monkeypatch.setenv("EARMARK_TOKEN", "revoked")
    done = earmark("projects", "list")
    assert done.code == 1
    assert "HTTP 401" in done.err


def test_create_and_list_projects(logged_in, earmark, tmp_path):
    # when a project is created with a schema file, its id is printed
    project_id = _project(earmark, tmp_path)
    project = Project.objects.get(pk=project_id)
    assert project.label_schema["segment_labels"][0]["name"] == "dog"
    # then it is listed with my role
    listed = earmark("projects", "list")
    assert listed.code == 0
    assert listed.out.split() == [str(project_id), "manager", "Birds"]
    as_json = json.loads(earmark("projects", "list", "--json").out)
    assert [p["id"] for p in as_json] == [project_id]


def test_a_bad_schema_shows_the_servers_field_errors(logged_in, earmark, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"clip_groups": [{"name": "scene", "choice": "maybe"}]}))
    done = earmark("projects", "create", "--name", "X", "--schema", str(bad))
    assert done.code == 1
    assert "HTTP 400, validation_error" in done.err
    assert "label_schema" in done.err
    not_json = tmp_path / "not.json"
    not_json.write_text("{")
    done = earmark("projects", "create", "--name", "X", "--schema", str(not_json))
    assert done.code == 2
    assert "not valid JSON" in done.err


def test_upload_files_and_zips(logged_in, earmark, tmp_path):
    project_id = _project(earmark, tmp_path)
    one = write_tone(tmp_path / "one.wav", duration_s=1.0, seed=1)
    two = write_tone(tmp_path / "two.flac", duration_s=1.0, fmt="flac", seed=2)
    archive = tmp_path / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(write_tone(tmp_path / "three.wav", duration_s=1.0, seed=3), "three.wav")
    # when files and a zip are uploaded
    done = earmark("upload", str(project_id), str(one), str(two), str(archive))
    # then all three recordings are created and processed
    assert done.code == 0, done.err
    assert done.out.strip() == "3 created, 0 duplicates, 0 rejected"
    items = AudioItem.objects.filter(project_id=project_id)
    assert sorted(i.original_name for i in items) == ["one.wav", "three.wav", "two.flac"]
    assert {i.state for i in items} == {"ready"}
    # uploading again finds duplicates; a file that is not audio is rejected, exit 1
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    again = earmark("upload", str(project_id), str(one), str(junk))
    assert again.code == 1
    assert again.out.strip() == "0 created, 1 duplicates, 1 rejected"
    assert "rejected junk.wav:" in again.err


def test_upload_to_a_project_i_cannot_see(logged_in, earmark, tmp_path):
    other = Project.objects.create(name="secret", label_schema={})
    done = earmark("upload", str(other.pk), str(write_tone(tmp_path / "a.wav", duration_s=1.0)))
    assert done.code == 1
    assert "not_found" in done.err


def test_import_labels_then_export_them(logged_in, earmark, tmp_path):
    project_id = _project(earmark, tmp_path)
    earmark("upload", str(project_id),
            str(write_tone(tmp_path / "one.wav", duration_s=5.0, seed=1)),
            str(write_tone(tmp_path / "two.wav", duration_s=5.0, seed=2)))  # fmt: skip
    # when Audacity label files are imported (a zip, one file per recording)
    labels = tmp_path / "labels.zip"
    with zipfile.ZipFile(labels, "w") as zf:
        zf.writestr("one.txt", "1\t2\tdog\n")
        zf.writestr("two.txt", "3\t4.5\tbird\n")
    done = earmark("import", str(project_id), str(labels), "--format", "audacity")
    # then the job is followed to its end and its report printed
    assert done.code == 0, done.err
    assert "succeeded" in done.out
    assert "2 updated" in done.out
    assert sorted(Segment.objects.values_list("label", flat=True)) == ["bird", "dog"]
    # when the project is exported as CSV
    out = tmp_path / "export.csv"
    exported = earmark("export", str(project_id), "--format", "csv", "-o", str(out))
    assert exported.code == 0, exported.err
    assert exported.out.strip() == str(out)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    segments = sorted((r["start_s"], r["end_s"], r["label"]) for r in rows if r["label"])
    assert ("1.0", "2.0", "dog") in segments or ("1", "2", "dog") in segments
    assert {r["label"] for r in rows} >= {"dog", "bird"}
    assert not out.with_name("export.csv.part").exists()
    # and as native JSON Lines
    native = tmp_path / "export.jsonl"
    assert earmark("export", str(project_id), "--format", "native", "-o", str(native)).code == 0
    assert native.stat().st_size > 0


def test_import_errors_are_listed_by_row_and_exit_1(logged_in, earmark, tmp_path):
    project_id = _project(earmark, tmp_path)
    earmark("upload", str(project_id), str(write_tone(tmp_path / "one.wav", duration_s=5.0)))
    labels = tmp_path / "one.txt"
    labels.write_text("1\t2\tunicorn\n")
    done = earmark(
        "import", str(project_id), str(labels), "--format", "audacity", "--option", "target=one.wav"
    )
    assert done.code == 1
    assert "row " in done.err
    assert "unicorn" in done.err


def test_import_and_export_refuse_bad_arguments(logged_in, earmark, tmp_path):
    project_id = _project(earmark, tmp_path)
    missing = earmark("import", str(project_id), str(tmp_path / "nope.csv"), "--format", "manifest")
    assert missing.code == 2
    assert "not a file" in missing.err
    bad_format = earmark("export", str(project_id), "--format", "xml", "-o", "x")
    assert bad_format.code == 2
    unknown_version = earmark(
        "export", str(project_id), "--format", "csv", "--source", "predictions",
        "--model-version", "999999", "-o", str(tmp_path / "p.csv"),
    )  # fmt: skip
    assert unknown_version.code == 1
    assert "model_version" in unknown_version.err


def test_train_reports_why_it_cannot_start(logged_in, earmark, tmp_path):
    project_id = _project(earmark, tmp_path)
    done = earmark("train", str(project_id))
    assert done.code == 1
    assert "not enough labels to train on yet" in done.err


def test_train_order_queue_asks_for_a_queue_order_run(logged_in, earmark, tmp_path):
    project_id = _project(earmark, tmp_path)
    # this project's queue is sequential: the server's reason reaches the user, field and all
    done = earmark("train", str(project_id), "--order-queue")
    assert done.code == 1
    assert "the 'sequential' queue does not follow ranks" in done.err
    assert "queue_policy:" in done.err


def test_train_wait_follows_the_run(logged_in, earmark, tmp_path, monkeypatch):
    # given a project whose training start is stubbed (the ML worker is not part of this test):
    # the run then reports epochs through the real run endpoint and succeeds
    project_id = _project(earmark, tmp_path)

    def fake_start(*, project, user):
        run = TrainingRun.objects.create(project=project, requested_by=user,
                                         progress={"phase": "queued"})  # fmt: skip

        def worker() -> None:
            for epoch in (1, 2, 3):
                time.sleep(0.3)
                TrainingRun.objects.filter(pk=run.pk).update(
                    state="running",
                    progress={"phase": "training", "epoch": epoch, "epochs": 3,
                              "loss": 1.0 / epoch, "eta_s": 3 - epoch},
                )  # fmt: skip
            TrainingRun.objects.filter(pk=run.pk).update(state="succeeded")

        threading.Thread(target=worker, daemon=True).start()
        return run

    monkeypatch.setattr("backend.predictions.apis.training_start", fake_start)
    done = earmark("train", str(project_id), "--wait", "--timeout", "60")
    assert done.code == 0, done.err
    run = TrainingRun.objects.get()
    assert done.out.strip() == str(run.pk)
    assert f"training run {run.pk} succeeded training epoch 3/3 loss 0.3333" in done.err


def test_train_wait_exits_1_when_the_run_fails(logged_in, earmark, tmp_path, monkeypatch):
    project_id = _project(earmark, tmp_path)

    def fake_start(*, project, user):
        return TrainingRun.objects.create(
            project=project, state="failed", error="the ML worker ran out of memory"
        )

    monkeypatch.setattr("backend.predictions.apis.training_start", fake_start)
    done = earmark("train", str(project_id), "--wait")
    assert done.code == 1
    assert "the ML worker ran out of memory" in done.err


def test_the_installed_console_script(live_server, cli_user, tmp_path, config_home):
    # given the `earmark` script that installing the package puts next to the interpreter
    script = Path(sys.executable).parent / "earmark"
    if not script.exists():
        script = Path(shutil.which("earmark") or "earmark")
    project = Project.objects.create(name="From the shell", label_schema={})
    Membership.objects.create(project=project, user=cli_user, role="manager")
    env = {**os.environ, "HOME": str(config_home)}
    env.pop("EARMARK_TOKEN", None)
    # when it logs in and lists projects as a separate process
    login = subprocess.run(
        [str(script), "login", "--url", live_server.url, "--username", cli_user.username,
         "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    listed = subprocess.run(
        [str(script), "projects", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    # then it prints the project, and nothing on stderr (no progress bars without a terminal)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == [str(project.pk), "manager", "From", "the", "shell"]
    assert listed.stderr == ""
    usage = subprocess.run([str(script), "export"], capture_output=True, text=True, env=env)
    assert usage.returncode == 2
    assert "usage: earmark export" in usage.stderr


def test_other_users_are_not_leaked(logged_in, earmark, tmp_path):
    someone = UserFactory()
    theirs = Project.objects.create(name="theirs", label_schema={})
    Membership.objects.create(project=theirs, user=someone, role="manager")
    assert "theirs" not in earmark("projects", "list").out


def test_progress_bar_draws_only_on_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar("export 7", total=200, stream=stream, enabled=True)
    bar.update(50, extra="running")
    bar.close()
    assert "export 7 [" in stream.getvalue()
    assert "25%" in stream.getvalue()
    assert "50/200 running" in stream.getvalue()
    assert stream.getvalue().endswith("\n")
    quiet = io.StringIO()
    with ProgressBar("export 7", total=200, stream=quiet) as bar:  # StringIO is not a TTY
        bar.update(100)
    assert quiet.getvalue() == ""
    counter = ProgressBar("upload", stream=io.StringIO(), enabled=True, as_bytes=True)
    counter.update(3 * 1024 * 1024)
    assert counter.render() == "upload 3.0 MB"


def test_uploads_stream_from_disk_with_their_names(logged_in, earmark, tmp_path):
    project_id = _project(earmark, tmp_path)
    odd = write_tone(tmp_path / 'Vögel "dawn" 2024.wav', duration_s=1.0, seed=5)
    done = earmark("upload", str(project_id), str(odd))
    assert done.code == 0, done.err
    assert AudioItem.objects.get(project_id=project_id).original_name == 'Vögel "dawn" 2024.wav'


def test_the_multipart_body_is_read_in_pieces_of_the_announced_length(tmp_path):
    from earmark_client.api import MultipartBody

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    progress: list[int] = []
    body = MultipartBody(
        fields=[("format", "native")], files=[("file", big)], on_progress=progress.append
    )
    pieces = []
    while piece := body.read(64 * 1024):
        assert len(piece) <= 64 * 1024
        pieces.append(piece)
    data = b"".join(pieces)
    assert len(data) == len(body)
    assert big.read_bytes() in data
    assert data.endswith(f"--{body.boundary}--\r\n".encode())
    assert progress[-1] == len(body)


def test_connections_create_sync_and_list(logged_in, earmark, tmp_path, settings):
    # given a server folder the administrator allows, with two recordings
    root = (tmp_path / "allowed").resolve()
    (root / "night").mkdir(parents=True)
    write_tone(root / "dawn.wav", duration_s=1.0, seed=1)
    write_tone(root / "night" / "owl.flac", duration_s=1.0, fmt="flac", seed=2)
    settings.EARMARK_FOLDER_ROOTS = (root,)
    project_id = _project(earmark, tmp_path)
    # when a connection is made and synced from the command line
    created = earmark("connections", "create", str(project_id), "--name", "disk",
                      "--folder", str(root))  # fmt: skip
    assert created.code == 0, created.err
    connection_id = created.out.strip()
    synced = earmark("connections", "sync", connection_id)
    # then both files are registered, and processed (eagerly here)
    assert synced.code == 0, synced.err
    assert synced.out.strip() == "2 found, 2 new, 0 already there"
    assert earmark("connections", "sync", connection_id).out.strip() == (
        "2 found, 0 new, 2 already there"
    )
    items = AudioItem.objects.filter(project_id=project_id)
    assert {i.external_id: i.state for i in items} == {
        "dawn.wav": "ready",
        "night/owl.flac": "ready",
    }
    listed = earmark("connections", "list", str(project_id))
    assert listed.out.split()[:5] == [connection_id, "folder", "2", "items", "disk"]
    # a folder outside the allowed ones is refused with the server's reason
    refused = earmark("connections", "create", str(project_id), "--name", "etc", "--folder", "/etc")
    assert refused.code == 1
    assert "outside the allowed folders" in refused.err


def test_connections_create_s3_reads_the_secret_from_stdin(logged_in, earmark, tmp_path):
    project_id = _project(earmark, tmp_path)
    done = earmark(
        "connections", "create", str(project_id), "--name", "b", "--s3", "s3://bucket/prefix",
        "--endpoint-url", "http://127.0.0.1:9", "--access-key-id", "AKIA1",
        "--secret-access-key-stdin", stdin="s3cr3t\n",
    )  # fmt: skip
    # the endpoint is dead, so the server refuses; the CLI says why and which field
    assert done.code == 1
    assert "cannot reach http://127.0.0.1:9" in done.err
    assert "s3cr3t" not in done.err
