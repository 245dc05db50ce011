"""Unit-test settings: fast hashing, media in a temporary folder, eager Celery.

Eager Celery is for unit tests only; integration tests (marked ``integration``) start a real
worker process against the real broker and override this.
"""

import tempfile
from pathlib import Path

from backend.config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="earmark-test-media-"))
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True

# Everything a test run writes outside the database lives in one temporary folder that worker
# processes started by integration tests share (see tests/worker.py).
TEST_VAR_DIR = Path(tempfile.mkdtemp(prefix="earmark-test-var-"))
if ENV.embedded_broker:  # noqa: F405
    for _sub in ("out", "processed", "control"):
        (TEST_VAR_DIR / "broker" / _sub).mkdir(parents=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(TEST_VAR_DIR / "broker" / "out"),
        "data_folder_out": str(TEST_VAR_DIR / "broker" / "out"),
        "processed_folder": str(TEST_VAR_DIR / "broker" / "processed"),
        "control_folder": str(TEST_VAR_DIR / "broker" / "control"),
        "polling_interval": 0.05,
        "store_processed": False,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory, so that a worker process can open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(TEST_VAR_DIR / "test.sqlite3")}  # noqa: F405
