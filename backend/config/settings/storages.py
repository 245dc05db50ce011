"""Where bytes live: a local folder by default, S3-compatible storage when configured."""

from __future__ import annotations

from backend.config.env import ENV

if ENV.storage_backend == "s3":
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": ENV.s3_bucket,
                "endpoint_url": ENV.s3_endpoint_url or None,
                "access_key": ENV.s3_access_key_id,
                "secret_key": ENV.s3_secret_access_key,
                "region_name": ENV.s3_region or None,
                "file_overwrite": False,
            },
        },
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
elif ENV.storage_backend == "local":
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
else:
    raise ValueError(f"EARMARK_STORAGE must be 'local' or 's3', got {ENV.storage_backend!r}")
