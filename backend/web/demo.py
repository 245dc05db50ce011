"""The demo account and project that ``make run`` creates on a first run.

The audio is generated (no files ship with Earmark): a street-like noise bed with barks and
chirps at known times, so people can try clip and segment labels at once.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from django.db import transaction

from backend.audio.services import IngestOutcome, IngestSource, items_ingest
from backend.projects.models import Membership, Project
from backend.projects.services import membership_set, project_create
from backend.users.models import User
from backend.users.services import user_create

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-earmark"  # noqa: S105 - a published demo login on a local first run
DEMO_PROJECT = "Demo: city sounds"
DEMO_SCHEMA = {
    "clip_groups": [
        {"name": "scene", "choice": "single", "labels": ["street", "park", "indoors"],
         "required": True},
        {"name": "contains", "choice": "multi", "labels": ["dog", "bird", "engine"]},
    ],
    "segment_labels": [
        {"name": "dog", "color": "#e6194b", "hotkey": "1"},
        {"name": "bird", "color": "#3cb44b", "hotkey": "2"},
        {"name": "engine", "color": "#4363d8", "hotkey": "3"},
    ],
    "segments_overlap": True,
    "segment_frequency": False,
    "segment_text": False,
}  # fmt: skip


@dataclass(frozen=True)
class DemoRecording:
    name: str
    duration_s: float
    seed: int


RECORDINGS = [
    DemoRecording("street-morning.flac", 30, 1),
    DemoRecording("park-birds.flac", 20, 2),
    DemoRecording("backyard-dog.flac", 15, 3),
    DemoRecording("long-walk.flac", 600, 4),
]


def synth(duration_s: float, *, seed: int, sample_rate_hz: int = 22_050) -> np.ndarray:
    """Noise bed plus barks (harmonic bursts) and chirps (rising tones). float32 (frames,)."""
    rng = np.random.default_rng(seed)
    frames = int(duration_s * sample_rate_hz)
    out = (0.03 * rng.standard_normal(frames)).astype(np.float32)
    t = np.arange(int(0.25 * sample_rate_hz)) / sample_rate_hz
    bark = (np.sin(2 * np.pi * 450 * t) + 0.5 * np.sin(2 * np.pi * 900 * t)) * np.exp(-t * 14)
    t2 = np.arange(int(0.4 * sample_rate_hz)) / sample_rate_hz
    chirp = np.sin(2 * np.pi * (2500 + 3000 * t2) * t2) * np.hanning(t2.size)
    for _ in range(max(2, int(duration_s / 4))):
        sound = bark if rng.random() < 0.5 else chirp
        start = int(rng.uniform(0, duration_s - 1) * sample_rate_hz)
        out[start : start + sound.size] += (0.4 * sound[: frames - start]).astype(np.float32)
    return np.clip(out, -1, 1)


def demo_seed() -> tuple[User, Project, list[IngestOutcome]]:
    """Create (or find) the demo manager and project; add any demo audio it lacks."""
    with transaction.atomic():
        user = User.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            user = user_create(username=DEMO_USERNAME, password=DEMO_PASSWORD, is_superuser=True)
        project = Project.objects.filter(name=DEMO_PROJECT, memberships__user=user).first()
        if project is None:
            project = project_create(
                name=DEMO_PROJECT,
                created_by=user,
                instructions="Pick the scene, tick what you hear, and mark each bark and chirp.",
                label_schema=DEMO_SCHEMA,
            )
        membership_set(project=project, user=user, role=Membership.Role.MANAGER)
    with tempfile.TemporaryDirectory(prefix="earmark-demo-") as tmp:
        sources = []
        for rec in RECORDINGS:
            path = Path(tmp) / rec.name
            sf.write(path, synth(rec.duration_s, seed=rec.seed), 22_050, format="FLAC")
            sources.append(IngestSource(name=rec.name, path=path))
        # Same bytes every time, so a second run finds duplicates instead of adding copies.
        outcomes = items_ingest(project=project, sources=sources, uploaded_by=user)
    return user, project, outcomes
