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
