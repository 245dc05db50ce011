from django.contrib import admin

from backend.audio.models import AudioItem, StorageConnection


@admin.register(AudioItem)
class AudioItemAdmin(admin.ModelAdmin[AudioItem]):
    list_display = ["id", "project", "original_name", "state", "format", "duration_s", "created_at"]
    list_filter = ["state", "format"]
    search_fields = ["original_name", "sha256", "external_id"]
    raw_id_fields = ["project", "uploaded_by"]
    readonly_fields = ["sha256", "size_bytes", "storage_key", "peaks_levels"]


@admin.register(StorageConnection)
class StorageConnectionAdmin(admin.ModelAdmin[StorageConnection]):
    list_display = ["id", "project", "name", "kind", "bucket", "root", "created_at"]
    list_filter = ["kind"]
    raw_id_fields = ["project", "created_by"]
    exclude = ["secret_access_key"]
