"""Start the whole application: web server, default worker and ML worker, in one command.

Ctrl-C (or SIGTERM) stops every process it started; if one of them dies, the others are
stopped too and the command exits with an error, so a half-running app is never left behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the web server and the Celery workers until Ctrl-C."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-ml", action="store_true", help="do not start the ML worker")
        parser.add_argument("--host", default=settings.EARMARK_HTTP_HOST)
        parser.add_argument("--port", type=int, default=settings.EARMARK_HTTP_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        python = sys.executable
        commands: dict[str, list[str]] = {
            "web": [
                python, "-m", "gunicorn", "backend.config.wsgi:application",
                "--bind", f"{options['host']}:{options['port']}",
                "--workers", str(settings.EARMARK_WEB_WORKERS),
                "--threads", "4",
                "--timeout", "300",
                "--access-logfile", "-",
            ],
            "worker": [
                python, "-m", "celery", "-A", "backend.config", "worker",
                "-Q", "default", "--concurrency", "2", "--loglevel", "INFO",
                "--hostname", "default@%h",
                # Embedded beat runs the periodic reaper of training runs.
                "--beat", "--schedule", str(settings.EARMARK_VAR_DIR / "celerybeat-schedule"),
            ],
        }  # fmt: skip
        if not options["no_ml"]:
            commands["ml-worker"] = [
                python, "-m", "celery", "-A", "ml_worker.celery_app", "worker",
                "-Q", "ml", "--concurrency", "1", "--loglevel", "INFO",
                "--hostname", "ml@%h",
            ]  # fmt: skip
        procs: dict[str, subprocess.Popen[bytes]] = {}
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, cmd in commands.items():
                # Children ignore the terminal's Ctrl-C; we stop them in order below.
                procs[name] = subprocess.Popen(cmd, start_new_session=True)
            url = f"http://{options['host']}:{options['port']}/"
            self.stdout.write(self.style.SUCCESS(f"Earmark is starting at {url}  (Ctrl-C stops)"))
            while not stopping:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        raise CommandError(f"{name} exited with status {proc.returncode}")
                time.sleep(0.5)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
            self.stdout.write("Earmark stopped.")
