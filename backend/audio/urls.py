from django.urls import path

from backend.audio.apis import (
    ConnectionDetailApi,
    ConnectionListCreateApi,
    ConnectionSyncApi,
    ItemAudioApi,
    ItemDetailApi,
    ItemListApi,
    ItemPeaksApi,
    ItemSpectrogramApi,
    ItemSpectrogramInfoApi,
    ItemUploadApi,
)

urlpatterns = [
    path("projects/<int:project_id>/items/", ItemListApi.as_view(), name="item-list"),
    path("projects/<int:project_id>/items/upload/", ItemUploadApi.as_view(), name="item-upload"),
    path("items/<int:item_id>/", ItemDetailApi.as_view(), name="item-detail"),
    path("items/<int:item_id>/audio/", ItemAudioApi.as_view(), name="item-audio"),
    path("items/<int:item_id>/peaks/", ItemPeaksApi.as_view(), name="item-peaks"),
    path("items/<int:item_id>/spectrogram/", ItemSpectrogramApi.as_view(), name="item-spectrogram"),
    path(
        "items/<int:item_id>/spectrogram/info/",
        ItemSpectrogramInfoApi.as_view(),
        name="item-spectrogram-info",
    ),
    path(
        "projects/<int:project_id>/connections/",
        ConnectionListCreateApi.as_view(),
        name="connection-list",
    ),
    path(
        "connections/<int:connection_id>/",
        ConnectionDetailApi.as_view(),
        name="connection-detail",
    ),
    path(
        "connections/<int:connection_id>/sync/", ConnectionSyncApi.as_view(), name="connection-sync"
    ),
]
