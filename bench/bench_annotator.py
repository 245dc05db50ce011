"""Benchmark: the annotator in headless Chromium against the real local server.

    .venv/bin/python -m bench.bench_annotator
    .venv/bin/python -m bench.bench_annotator --quick
    .venv/bin/python -m bench.bench_annotator --skip-baseline --json bench/out/annotator.json

Files: 1-hour and 3-hour 44.1 kHz stereo recordings of bench_peaks's signal, FLAC and MP3
128 kb/s (ffmpeg), generated once into ``--data-dir`` and reused. They are uploaded through
``POST /api/projects/{id}/items/upload/`` to a fresh embedded instance (temporary
EARMARK_VAR_DIR, SQLite, file-system broker; ``manage.py serve --no-ml``) and processed by its
worker. Debian's Chromium (/usr/bin/chromium, headless, software rendering) is driven by
Playwright; the browser logs in through /accounts/login/ like a person.

1. Time to first paint, per file, in a fresh browser context each run: from navigation start
   (``performance.now()`` in the page, checked every animation frame) to (a) the annotator's
   ``data-state="ready"`` with the waveform canvas drawn (pixels on its middle row) and (b)
   the first spectrogram tile drawn. Median of ``--runs``; run 1 meets a cold server tile
   cache. Resource Timing splits it into phases.
2. Memory: proportional set size (PSS, /proc/PID/smaps_rollup) summed over every process of a
   fresh Chromium instance, after opening the file, zooming in to the finest level (``=``),
   End, Home, a few Shift+→ and waiting for the tiles; minus the same for an empty page. Then
   once more after playing 3 s (Space): the annotator gives the <audio> element its source on
   the first play, so that figure includes Chromium's media pipeline and audio service. Where
   the memory goes: a memory-infra dump (CDP Tracing.requestMemoryDump) of the explored page,
   its allocators per process (v8, malloc, cc tiles, canvas, blink_gc, ...).
3. Responsiveness with ``--segments`` segments on the 1-hour FLAC: frame times from a
   requestAnimationFrame loop and long tasks (PerformanceObserver 'longtask') while zooming
   in, scrolling with Shift + wheel, scrolling with Shift + → and dragging a segment.
4. Baseline: the same files in plain wavesurfer.js with ``url`` only (the browser fetches and
   decodes the whole file), from frontend/node_modules, served by a local static server:
   navigation to ``ready`` (or ``error``), and the same PSS measure.

Prints markdown, and ``--json PATH`` writes every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests
from playwright.sync_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Playwright,
    Request,
    ViewportSize,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from bench.bench_peaks import generate
from bench.harness import (
    JSON_MARKER,
    REPO_ROOT,
    BenchError,
    app_env,
    django_shell,
    free_port,
    loadavg,
    machine,
    machine_lines,
    manage,
    serve,
    table,
    temp_var_dir,
    write_json,
)

CHROMIUM = Path("/usr/bin/chromium")
# As tests/e2e/conftest.py: Debian's Chromium, no sandbox (root in a container), no GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
WAVESURFER = REPO_ROOT / "frontend" / "node_modules" / "wavesurfer.js"
FRONTEND_MANIFEST = REPO_ROOT / "frontend" / "dist" / ".vite" / "manifest.json"
DEFAULT_DATA_DIR = Path("/tmp/earmark-bench-data")
USERNAME = "bench"
PASSWORD = "bench-annotator-pw"  # noqa: S105 (a throwaway user in a throwaway instance)
SCHEMA: dict[str, Any] = {
    "clip_groups": [
        {"name": "scene", "choice": "single", "labels": ["street", "park"], "required": False}
    ],
    "segment_labels": [
        {"name": "dog", "color": "#e6194b", "hotkey": "1"},
        {"name": "bird", "color": "#3cb44b", "hotkey": "2"},
        {"name": "car", "color": "#4363d8", "hotkey": "3"},
        {"name": "voice", "color": "#f58231", "hotkey": "4"},
    ],
}
TARGET_FIRST_PAINT_MS = 1500.0
TARGET_MEMORY_MB = 100.0
# Measured earlier on this machine with wavesurfer.js 8.0.1 (url only), for comparison.
REFERENCE_BASELINE = [
    "1-hour MP3 (58 MB): ready after 12.2 s, ~570 MB more than an empty page",
    "1-hour FLAC: 8.7 s, ~600 MB",
    '3-hour MP3: fails after 20 s with "EncodingError: Unable to decode audio data"',
]
_API_IDLE_QUIET_MS = 600
_SETTLE_MS = 1000
# Main-thread work reported by CDP Performance.getMetrics as <name>Duration.
_MAIN_THREAD = ("Task", "Script", "Layout", "RecalcStyle")

_SETUP = """
import json
from backend.projects.services import project_create
from backend.users.services import token_rotate, user_create
user = user_create(username={username!r}, password={password!r})
project = project_create(
    name="annotator benchmark", created_by=user, label_schema=json.loads({schema!r})
)
print({marker!r} + json.dumps({{"project": project.pk, "token": token_rotate(user=user).key}}))
"""

# Runs at document start of every page of a context: records, once per animation frame, when
# the annotator is ready, when its waveform canvas has pixels and when the first spectrogram
# tile is drawn, in performance.now() milliseconds (0 = navigation start).
PROBE_JS = """
(() => {
  if (!/\\/annotate\\/$/.test(location.pathname)) return
  try { performance.setResourceTimingBufferSize(10000) } catch (e) {}
  const probe = { longtasks: [] }
  window.__emProbe = probe
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) probe.longtasks.push([e.startTime, e.duration])
    }).observe({ type: 'longtask', buffered: true })
  } catch (e) {}
  const shadow = () => {
    const host = document.querySelector('[data-testid=waveform]')
    if (!host) return null
    for (const el of host.children) if (el.shadowRoot) return el.shadowRoot
    return null
  }
  const waveformDrawn = (root) => {
    for (const c of root.querySelectorAll('.canvases canvas')) {
      if (!c.width || !c.height) continue
      const ctx = c.getContext('2d')
      if (!ctx) continue
      const row = ctx.getImageData(0, c.height >> 1, c.width, 1).data
      for (let i = 3; i < row.length; i += 4) if (row[i] !== 0) return true
    }
    return false
  }
  const tick = () => {
    const now = performance.now()
    const el = document.querySelector('[data-testid=annotator]')
    const state = el ? el.dataset.state : undefined
    if (state !== undefined && probe.mounted === undefined) probe.mounted = now
    if (state === 'error' || state === 'failed' || state === 'empty') {
      probe.failed = `${state}: ${el.textContent.slice(0, 300)}`
      return
    }
    if (state === 'ready') {
      if (probe.stateReady === undefined) probe.stateReady = now
      const root = shadow()
      if (root && probe.waveform === undefined && waveformDrawn(root)) probe.waveform = now
      if (root && probe.tile === undefined && root.querySelector('[data-testid=spectrogram-tile]'))
        probe.tile = now
    }
    if (probe.waveform === undefined || probe.tile === undefined) requestAnimationFrame(tick)
  }
  requestAnimationFrame(tick)
})()
"""
PROBE_DONE_JS = """() => {
  const p = window.__emProbe
  return Boolean(p && (p.failed || (p.waveform !== undefined && p.tile !== undefined)))
}"""
TIMINGS_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0]
  return {
    probe: window.__emProbe,
    nav: nav ? { responseStart: nav.responseStart, responseEnd: nav.responseEnd,
                 dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd } : null,
    resources: performance.getEntriesByType('resource').map((e) => ({
      name: e.name, start: e.startTime, end: e.responseEnd, bytes: e.encodedBodySize,
    })),
  }
}"""
FRAMES_START_JS = """() => {
  const rec = { deltas: [], longtasks: [], running: true, last: null, start: performance.now() }
  const loop = (t) => {
    if (!rec.running) return
    if (rec.last !== null) rec.deltas.push(t - rec.last)
    rec.last = t
    requestAnimationFrame(loop)
  }
  requestAnimationFrame(loop)
  rec.observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) rec.longtasks.push(e.duration)
  })
  rec.observer.observe({ type: 'longtask' })
  window.__emFrames = rec
}"""
FRAMES_STOP_JS = """async () => {
  const rec = window.__emFrames
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))
  await new Promise((r) => setTimeout(r, 100))
  for (const e of rec.observer.takeRecords()) rec.longtasks.push(e.duration)
  rec.observer.disconnect()
  rec.running = false
  return { deltas: rec.deltas, longtasks: rec.longtasks, elapsed: performance.now() - rec.start }
}"""
SCROLL_STATE_JS = """() => {
  const host = document.querySelector('[data-testid=waveform]')
  const root = [...host.children].find((e) => e.shadowRoot).shadowRoot
  const s = root.querySelector('.scroll')
  const r = s.getBoundingClientRect()
  return { left: s.scrollLeft, width: s.scrollWidth, client: s.clientWidth, pageY: scrollY,
           box: { x: r.left, y: r.top, w: r.width, h: r.height } }
}"""
VISIBLE_SEGMENTS_JS = """() => {
  const host = document.querySelector('[data-testid=waveform]')
  const root = [...host.children].find((e) => e.shadowRoot).shadowRoot
  const view = root.querySelector('.scroll').getBoundingClientRect()
  const all = [...root.querySelectorAll('[data-testid=segment-region]')]
  const boxes = all.map((el) => {
    const r = el.getBoundingClientRect()
    return { id: el.dataset.segmentId, x: r.left, y: r.top, w: r.width, h: r.height }
  })
  return {
    total: all.length,
    visible: boxes.filter((b) => b.w >= 16 && b.h > 0 && b.x > view.left + 40 &&
                                 b.x + b.w < view.right - 300),
  }
}"""
SEGMENT_BOX_JS = """(id) => {
  const host = document.querySelector('[data-testid=waveform]')
  const root = [...host.children].find((e) => e.shadowRoot).shadowRoot
  const el = root.querySelector(`[data-testid=segment-region][data-segment-id="${id}"]`)
  if (!el) return null
  const r = el.getBoundingClientRect()
  return { x: r.left, w: r.width }
}"""
BASELINE_DONE_JS = "() => Boolean(window.__bench && window.__bench.state !== 'loading')"
BASELINE_HTML = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>wavesurfer.js baseline</title></head>
<body style="margin: 0">
<div id="waveform"></div>
<script type="module">
import WaveSurfer from './wavesurfer.esm.js'
const bench = (window.__bench = { state: 'loading' })
const file = new URLSearchParams(location.search).get('file')
const ws = WaveSurfer.create({ container: '#waveform', url: file, height: 128 })
ws.on('loading', (percent) => {
  if (percent >= 100 && bench.fetched === undefined) bench.fetched = performance.now()
})
ws.on('decode', () => { bench.decoded = performance.now() })
ws.on('ready', (duration) => {
  Object.assign(bench, { state: 'ready', t: performance.now(), duration })
})
ws.on('error', (e) => {
  const error = e && e.name ? `${e.name}: ${e.message}` : String(e)
  Object.assign(bench, { state: 'error', t: performance.now(), error })
})
</script>
</body>
</html>
"""

# Phases of first paint, as Resource Timing names them: (key, label, URL pattern).
PHASES = [
    ("js", "JS bundle loaded", r"/static/frontend/assets/main-[^/]+\.js$"),
    ("project", "GET project", r"/api/projects/\d+/$"),
    ("item", "GET item", r"/api/items/\d+/$"),
    ("annotation", "POST annotation (my draft)", r"/api/items/\d+/annotations/$"),
    ("peaks", "GET overview peaks", r"/api/items/\d+/peaks/\?"),
    ("predictions", "GET predictions", r"/api/items/\d+/predictions/"),
    ("spectrogram_info", "GET spectrogram info", r"/api/items/\d+/spectrogram/info/"),
    ("tile", "GET first spectrogram tile", r"/api/items/\d+/spectrogram/\?"),
]


@dataclass(frozen=True)
class AudioFile:
    label: str
    fmt: str
    duration_s: float
    path: Path

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 1e6

    @property
    def content_type(self) -> str:
        return "audio/flac" if self.fmt == "flac" else "audio/mpeg"


@dataclass
class Instance:
    """One Chromium with its own profile; the profile path finds its processes in /proc."""

    context: BrowserContext
    page: Page
    user_data_dir: Path


@dataclass
class ApiTracker:
    """API requests in flight on a page (audio streaming excluded)."""

    inflight: set[Request] = field(default_factory=set)
    tiles: int = 0

    def attach(self, page: Page) -> None:
        page.on("request", self._start)
        page.on("requestfinished", self._end)
        page.on("requestfailed", self._end)

    def _start(self, request: Request) -> None:
        if "/api/" in request.url and "/audio/" not in request.url:
            self.inflight.add(request)
            if re.search(r"/spectrogram/\?", request.url):
                self.tiles += 1

    def _end(self, request: Request) -> None:
        self.inflight.discard(request)

    def wait_idle(self, page: Page, *, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            page.wait_for_timeout(100)
            if self.inflight:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= _API_IDLE_QUIET_MS / 1000:
                return
        print(
            f"  API not idle after {timeout_s} s ({len(self.inflight)} in flight)", file=sys.stderr
        )


# --- files and the application ----------------------------------------------------------------


def audio_files(data_dir: Path, *, quick: bool) -> list[AudioFile]:
    """The benchmark recordings, generated (bench_peaks.generate) when not cached yet."""
    specs = [("1 h FLAC", "flac", 3600.0)]
    if not quick:
        specs += [("1 h MP3", "mp3", 3600.0), ("3 h FLAC", "flac", 10800.0)]
        specs += [("3 h MP3", "mp3", 10800.0)]
    data_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for label, fmt, duration_s in specs:
        # bench_peaks and bench_tiles name their files so: a shared --out/--data-dir is reused.
        path = data_dir / f"bench-{duration_s:.0f}s-44100hz-2ch.{fmt}"
        if not path.exists():
            partial = path.with_name(f".partial-{path.name}")
            started = time.perf_counter()
            print(f"generating {path} …", file=sys.stderr)
            generate(partial, fmt=fmt, duration_s=duration_s, sample_rate_hz=44100, channels=2)
            partial.rename(path)
            print(f"  {time.perf_counter() - started:.0f} s", file=sys.stderr)
        files.append(AudioFile(label=label, fmt=fmt, duration_s=duration_s, path=path))
    return files


class _MultipartFile:
    """A one-file multipart/form-data body, read from disk as it is sent.

    It has a length and ``read`` but no ``tell`` or ``__iter__``, so requests sends it with a
    Content-Length (Django needs one) instead of chunked, without holding the file in memory.
    """

    def __init__(self, field_name: str, path: Path, content_type: str) -> None:
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; '
            f'filename="{path.name}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        self._length = len(head) + path.stat().st_size + len(tail)
        self._parts: list[BinaryIO] = [io.BytesIO(head), path.open("rb"), io.BytesIO(tail)]

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        want = self._length if size < 0 else size
        out = bytearray()
        while self._parts and len(out) < want:
            chunk = self._parts[0].read(want - len(out))
            if chunk:
                out += chunk
            else:
                self._parts.pop(0).close()
        return bytes(out)

    def close(self) -> None:
        for part in self._parts:
            part.close()
        self._parts = []


def upload(session: requests.Session, base: str, project: int, audio: AudioFile) -> int:
    """Upload one file; returns its item id."""
    body = _MultipartFile("files", audio.path, audio.content_type)
    try:
        resp = session.post(
            f"{base}/api/projects/{project}/items/upload/",
            data=body,
            headers={"Content-Type": body.content_type},
            timeout=900,
        )
    finally:
        body.close()
    if resp.status_code not in (200, 201):
        raise BenchError(f"upload of {audio.path.name}: {resp.status_code} {resp.text[:1000]}")
    (outcome,) = resp.json()["files"]
    if outcome["status"] == "rejected" or not outcome.get("item"):
        raise BenchError(f"upload of {audio.path.name} rejected: {outcome}")
    return int(outcome["item"]["id"])


def wait_ready(session: requests.Session, base: str, item_id: int, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        item = session.get(f"{base}/api/items/{item_id}/", timeout=60).json()
        if item["state"] == "ready":
            return
        if item["state"] == "failed":
            raise BenchError(f"item {item_id} failed: {item.get('error')}")
        if time.monotonic() > deadline:
            raise BenchError(f"item {item_id} still {item['state']} after {timeout_s} s")
        time.sleep(0.5)


def segments_payload(*, count: int, duration_s: float, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` segments of 2-5 s spread evenly over the recording, labels in turn."""
    import random

    rng = random.Random(seed)
    labels = [label["name"] for label in SCHEMA["segment_labels"]]
    slot = duration_s / count
    out = []
    for n in range(count):
        length = min(rng.uniform(2.0, 5.0), slot * 0.9)
        start = n * slot + rng.uniform(0, slot - length)
        out.append(
            {"start_s": round(start, 3), "end_s": round(start + length, 3), "label": labels[n % 4]}
        )
    return out


def set_segments(session: requests.Session, base: str, item_id: int, segments: list[Any]) -> None:
    """The benchmark user's annotation of the item holds exactly ``segments``."""
    resp = session.post(
        f"{base}/api/items/{item_id}/annotations/", json={"segments": segments}, timeout=120
    )
    if resp.status_code not in (200, 201):
        raise BenchError(f"POST annotation: {resp.status_code} {resp.text[:1000]}")
    annotation = resp.json()
    if len(annotation["segments"]) != len(segments):
        # A draft existed already (opening the item in the annotator starts one): replace.
        resp = session.patch(
            f"{base}/api/annotations/{annotation['id']}/",
            json={"version": annotation["version"], "segments": segments},
            timeout=120,
        )
        if resp.status_code != 200 or len(resp.json()["segments"]) != len(segments):
            raise BenchError(f"PATCH annotation: {resp.status_code} {resp.text[:1000]}")


# --- Chromium -----------------------------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can read."""
    table_: dict[int, tuple[int, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        table_[int(entry.name)] = (ppid, cmdline)
    return table_


def chromium_processes(marker: str) -> dict[int, str]:
    """Processes whose command line holds ``marker`` (the profile dir) and their descendants."""
    procs = _proc_table()
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (ppid, _) in procs.items():
        children[ppid].append(pid)
    found: dict[int, str] = {}
    stack = [pid for pid, (_, cmd) in procs.items() if marker in cmd]
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        found[pid] = procs[pid][1]
        stack += children[pid]
    return found


def _pss_kb(pid: int) -> dict[str, int]:
    """Pss and its parts (Pss_Anon, Pss_File, Pss_Shmem) of one process, in kB."""
    out = {"Pss": 0, "Pss_Anon": 0, "Pss_File": 0, "Pss_Shmem": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in out:
                out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


# Executable names of Chromium processes (Debian's wrapper runs /usr/lib/chromium/chromium).
_CHROMIUM_NAMES = {"chromium", "chrome", "headless_shell", "chrome_crashpad_handler"}


def other_chromium_processes(marker: str) -> int:
    """Chromium processes on the machine that are not this instance's.

    They share the Chromium binary's pages with this instance, which lowers its PSS (file pages
    are divided among every process that maps them); the anonymous + shared-memory part of PSS
    does not depend on them.
    """
    ours = set(chromium_processes(marker))
    return sum(
        1
        for pid, (_, cmd) in _proc_table().items()
        if pid not in ours and Path(cmd.split(" ", 1)[0]).name in _CHROMIUM_NAMES
    )


def instance_pss(marker: str) -> dict[str, Any]:
    """PSS of a Chromium instance, summed over all its processes, in MB, and by process type."""
    procs = chromium_processes(marker)
    if not procs:
        raise BenchError(f"no Chromium process has {marker} on its command line")
    by_type: dict[str, float] = defaultdict(float)
    total_kb = 0
    private_kb = 0
    for pid, cmd in procs.items():
        parts = _pss_kb(pid)
        kb = parts["Pss"]
        match = re.search(r"--type=([\w-]+)", cmd)
        kind = match.group(1) if match else ("browser" if "chromium" in cmd else "other")
        if kind == "utility":
            sub = re.search(r"--utility-sub-type=([\w.]+)", cmd)
            kind = f"utility:{sub.group(1).split('.')[-1]}" if sub else kind
        if kind == "utility:TracingService":
            continue  # started by this benchmark's own memory dump, not by the page
        total_kb += kb
        private_kb += parts["Pss_Anon"] + parts["Pss_Shmem"]
        by_type[kind] += kb / 1024
    return {
        "pss_mb": total_kb / 1024,
        # PSS without file-backed pages (the binary, fonts): what the page itself costs.
        "anon_shmem_mb": private_kb / 1024,
        "processes": len(procs),
        "other_chromium_processes": other_chromium_processes(marker),
        "by_type_mb": {k: round(v, 1) for k, v in sorted(by_type.items())},
    }


@contextlib.contextmanager
def chromium_instance(pw: Playwright, *, base_url: str | None = None) -> Iterator[Instance]:
    """A fresh Chromium (its own profile), closed and deleted on exit."""
    user_data_dir = Path(tempfile.mkdtemp(prefix="earmark-bench-chromium-"))
    extra: dict[str, Any] = {"base_url": base_url} if base_url else {}
    context = pw.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=VIEWPORT,
        **extra,
    )
    try:
        page = context.pages[0] if context.pages else context.new_page()
        yield Instance(context=context, page=page, user_data_dir=user_data_dir)
    finally:
        with contextlib.suppress(PlaywrightError):
            context.close()
        shutil.rmtree(user_data_dir, ignore_errors=True)


def measure_memory(inst: Instance) -> dict[str, Any]:
    """Settle, collect garbage in the page, then PSS of the whole instance and the JS heap."""
    page = inst.page
    page.wait_for_timeout(_SETTLE_MS)
    before = instance_pss(str(inst.user_data_dir))
    heap_mb: float | None = None
    with contextlib.suppress(PlaywrightError):
        cdp = inst.context.new_cdp_session(page)
        cdp.send("HeapProfiler.collectGarbage")
        page.wait_for_timeout(500)
        heap_mb = cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20
        cdp.detach()
    after = instance_pss(str(inst.user_data_dir))
    return {**after, "pss_before_gc_mb": before["pss_mb"], "js_heap_mb": heap_mb}


def log_in(page: Page) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: urlsplit(url).path == "/")


def open_annotator(page: Page, item_id: int, *, timeout_s: float = 120) -> dict[str, Any]:
    """Navigate to the item's annotator and wait for the waveform and the first tile."""
    page.goto(f"/items/{item_id}/annotate/", wait_until="commit")
    page.wait_for_function(PROBE_DONE_JS, timeout=timeout_s * 1000)
    timings: dict[str, Any] = page.evaluate(TIMINGS_JS)
    if timings["probe"].get("failed"):
        raise BenchError(f"the annotator did not open item {item_id}: {timings['probe']['failed']}")
    return timings


def summarize_first_paint(timings: dict[str, Any]) -> dict[str, Any]:
    """(a), (b) and, in ``flat``, every moment of the load in ms since navigation start."""
    probe = timings["probe"]
    nav = timings["nav"] or {}
    flat: dict[str, float | None] = {
        "html": nav.get("responseEnd"),
        "dcl": nav.get("dcl"),
        "mounted": probe.get("mounted"),
        "state_ready": probe.get("stateReady"),
        "waveform": probe["waveform"],
        "tile": probe["tile"],
    }
    for key, _, pattern in PHASES:
        hits = [r for r in timings["resources"] if re.search(pattern, r["name"])]
        first = min(hits, key=lambda r: r["start"]) if hits else {}
        for part in ("start", "end", "bytes"):
            flat[f"{key}_{part}"] = first.get(part)
    tasks = probe.get("longtasks", [])
    before = [d for s, d in tasks if s < probe["waveform"]]
    between = [d for s, d in tasks if probe["waveform"] <= s < probe["tile"]]
    flat["longtasks_before_waveform"] = len(before)
    flat["longtask_total"] = sum(before)
    flat["longtasks_a_to_b"] = len(between)
    flat["longtask_total_a_to_b"] = sum(between)
    return {"waveform_ms": probe["waveform"], "tile_ms": probe["tile"], "flat": flat}


def first_paint(browser: Browser, base: str, item_id: int, *, runs: int) -> list[dict[str, Any]]:
    """``runs`` times: a fresh context (no cache, no cookies), log in, open the item."""
    results = []
    for _ in range(runs):
        context = browser.new_context(viewport=VIEWPORT, base_url=base)
        try:
            context.add_init_script(PROBE_JS)
            page = context.new_page()
            log_in(page)
            results.append(summarize_first_paint(open_annotator(page, item_id)))
        finally:
            context.close()
    return results


def explore(page: Page, tracker: ApiTracker, *, max_presses: int = 24) -> dict[str, Any]:
    """Zoom in to the finest level with =, then End, Home and Shift+→, waiting for tiles."""
    slider = page.get_by_test_id("zoom-slider")
    presses = 0
    while float(slider.input_value()) < 0.999 and presses < max_presses:
        page.keyboard.press("Equal")
        presses += 1
        page.wait_for_timeout(150)
    tracker.wait_idle(page)
    for key in ("End", "Home"):
        page.keyboard.press(key)
        tracker.wait_idle(page)
    for _ in range(3):
        page.keyboard.press("Shift+ArrowRight")
        page.wait_for_timeout(200)
    tracker.wait_idle(page)
    return {
        "zoom_presses": presses,
        "zoom_slider": float(slider.input_value()),
        "time_display": page.get_by_test_id("time-display").inner_text(),
        "tiles_requested": tracker.tiles,
    }


def memory_empty(pw: Playwright, *, runs: int) -> dict[str, Any]:
    samples = []
    for _ in range(runs):
        with chromium_instance(pw) as inst:
            inst.page.goto("about:blank")
            samples.append(measure_memory(inst))
    median = statistics.median(s["pss_mb"] for s in samples)
    anon = statistics.median(s["anon_shmem_mb"] for s in samples)
    return {"pss_mb": median, "anon_shmem_mb": anon, "samples": samples}


# Allocators of a memory-infra dump worth a line in the report (the rest is summed as "other").
_ALLOCATORS = (
    "malloc", "partition_alloc", "v8", "blink_gc", "cc", "canvas", "gpu", "shared_memory",
    "media", "skia", "web_cache", "font_caches", "discardable", "parkable_strings",
)  # fmt: skip
# Canvases of the page (shadow roots included): how many and their backing pixels.
CANVASES_JS = """() => {
  const out = { canvases: 0, mpx: 0, tiles: 0, nodes: 0 }
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      out.nodes++
      if (el.tagName === 'CANVAS') {
        out.canvases++
        out.mpx += (el.width * el.height) / 1e6
        if (el.dataset.testid === 'spectrogram-tile') out.tiles++
      }
      if (el.shadowRoot) walk(el.shadowRoot)
    }
  }
  walk(document)
  return out
}"""


def memory_dump(inst: Instance) -> dict[str, dict[str, float]]:
    """Chromium's own accounting (memory-infra), MB per top-level allocator per process type."""
    browser = inst.context.browser
    if browser is None:
        return {}
    cdp = browser.new_browser_cdp_session()
    events: list[dict[str, Any]] = []
    done: list[bool] = []
    cdp.on("Tracing.dataCollected", lambda params: events.extend(params["value"]))
    cdp.on("Tracing.tracingComplete", lambda _params: done.append(True))
    config = {
        "includedCategories": ["disabled-by-default-memory-infra"],
        "excludedCategories": ["*"],
        "memoryDumpConfig": {"triggers": []},
    }
    cdp.send("Tracing.start", {"traceConfig": config, "transferMode": "ReportEvents"})
    cdp.send("Tracing.requestMemoryDump", {"deterministic": True, "levelOfDetail": "detailed"})
    cdp.send("Tracing.end")
    deadline = time.monotonic() + 30
    while not done and time.monotonic() < deadline:
        inst.page.wait_for_timeout(100)
    cdp.detach()
    names = {
        e["pid"]: str(e["args"].get("name", "?"))
        for e in events
        if e.get("ph") == "M" and e.get("name") == "process_name"
    }
    out: dict[str, dict[str, float]] = {}
    for event in events:
        allocators = (
            event.get("args", {}).get("dumps", {}).get("allocators")
            if event.get("ph") == "v"
            else None
        )
        if not allocators:
            continue
        sizes: dict[str, float] = {}
        for name, dump in allocators.items():
            size = dump.get("attrs", {}).get("size")
            if "/" in name or not size:
                continue
            sizes[name] = int(size["value"], 16) / 2**20
        kind = names.get(event["pid"], "?")
        # The page's renderer is the one with a v8 heap of any size; helpers have tiny ones.
        if kind == "Renderer" and sizes.get("v8", 0) < 3:
            kind = "Renderer (other)"
        merged = out.setdefault(kind, {})
        for name, mb in sizes.items():
            merged[name] = merged.get(name, 0.0) + mb
    return {k: {n: round(mb, 1) for n, mb in v.items()} for k, v in out.items()}


def play_briefly(page: Page, seconds: float = 3.0) -> dict[str, str]:
    """Space, wait, Space: the first play gives the audio element its source."""
    before = page.get_by_test_id("time-display").inner_text()
    page.keyboard.press("Space")
    page.wait_for_timeout(seconds * 1000)
    page.keyboard.press("Space")
    return {"from": before, "to": page.get_by_test_id("time-display").inner_text()}


def memory_earmark(pw: Playwright, base: str, item_id: int) -> dict[str, Any]:
    with chromium_instance(pw, base_url=base) as inst:
        inst.context.add_init_script(PROBE_JS)
        tracker = ApiTracker()
        tracker.attach(inst.page)
        log_in(inst.page)
        open_annotator(inst.page, item_id)
        tracker.wait_idle(inst.page)
        opened = measure_memory(inst)
        explored = explore(inst.page, tracker)
        measured = measure_memory(inst)
        canvases = inst.page.evaluate(CANVASES_JS)
        played = play_briefly(inst.page)
        after_play = measure_memory(inst)
        # Last: tracing starts a service process and buffers of its own.
        dump = memory_dump(inst)
        return {
            **measured,
            **explored,
            "after_open": opened,
            "canvases": canvases,
            "allocators_mb": dump,
            "played": played,
            "after_play": after_play,
        }


# --- baseline: plain wavesurfer.js ------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".flac": "audio/flac",
        ".mp3": "audio/mpeg",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the browser hanging up mid-file is not news


@contextlib.contextmanager
def static_server(root: Path) -> Iterator[str]:
    """A threaded http.server for ``root`` on a free port, in this process."""
    httpd = _QuietServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def baseline_site(root: Path, files: list[AudioFile]) -> None:
    shutil.copy(WAVESURFER / "dist" / "wavesurfer.esm.js", root / "wavesurfer.esm.js")
    (root / "index.html").write_text(BASELINE_HTML)
    for audio in files:
        (root / audio.path.name).symlink_to(audio.path.resolve())


def baseline_one(
    pw: Playwright, site: str, audio: AudioFile, *, timeout_s: float
) -> dict[str, Any]:
    with chromium_instance(pw) as inst:
        page = inst.page
        crashed: list[bool] = []
        page.on("crash", lambda _page: crashed.append(True))
        started = time.perf_counter()
        page.goto(f"{site}/index.html?file={audio.path.name}", wait_until="commit")
        result: dict[str, Any]
        try:
            page.wait_for_function(BASELINE_DONE_JS, timeout=timeout_s * 1000, polling=100)
            result = dict(page.evaluate("() => window.__bench"))
        except PlaywrightError as exc:
            waited = time.perf_counter() - started
            if crashed:
                result = {"state": "crashed", "error": f"renderer crashed after {waited:.0f} s"}
            elif "Timeout" in type(exc).__name__ or "Timeout" in str(exc):
                result = {"state": "timeout", "error": f"no ready/error in {timeout_s:.0f} s"}
            else:
                result = {
                    "state": "failed",
                    "error": f"{str(exc).splitlines()[0]} ({waited:.0f} s)",
                }
            result["t"] = waited * 1000
        memory = None if crashed else measure_memory(inst)
        return {**result, "memory": memory}


# --- responsiveness ---------------------------------------------------------------------------


def frame_stats(recorded: dict[str, Any], **extra: Any) -> dict[str, Any]:
    deltas = sorted(recorded["deltas"])
    longtasks = recorded["longtasks"]
    if not deltas:
        return {"frames": 0, "elapsed_s": recorded["elapsed"] / 1000, **extra}
    return {
        "frames": len(deltas),
        "elapsed_s": recorded["elapsed"] / 1000,
        "p50_ms": percentile(deltas, 0.50),
        "p95_ms": percentile(deltas, 0.95),
        "max_ms": deltas[-1],
        "over_50ms": sum(d > 50 for d in deltas),
        "longtasks": len(longtasks),
        "longtask_ms": sum(longtasks),
        "longtasks_ms_each": sorted((round(d) for d in longtasks), reverse=True),
        **extra,
    }


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main_thread(cdp: CDPSession) -> dict[str, float]:
    """The renderer's cumulative counters (CDP Performance.getMetrics), durations in ms."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    out = {f"{k}_ms": metrics.get(f"{k}Duration", 0.0) * 1000 for k in _MAIN_THREAD}
    return {**out, "layouts": metrics.get("LayoutCount", 0.0), "nodes": metrics.get("Nodes", 0.0)}


def main_thread_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    delta = {k: after[k] - before[k] for k in before if k != "nodes"}
    return {**delta, "nodes": after["nodes"]}


def recorded(
    page: Page, cdp: CDPSession, action: Callable[[], dict[str, Any] | None]
) -> dict[str, Any]:
    """Frame times, long tasks and main-thread time while ``action`` runs."""
    before = main_thread(cdp)
    page.evaluate(FRAMES_START_JS)
    page.wait_for_timeout(50)
    extra = action() or {}
    frames = page.evaluate(FRAMES_STOP_JS)
    return frame_stats(frames, main_thread=main_thread_delta(before, main_thread(cdp)), **extra)


def responsiveness(
    browser: Browser, base: str, item_id: int, *, zoom_steps: int, wheel_px: int
) -> dict[str, Any]:
    context = browser.new_context(viewport=VIEWPORT, base_url=base)
    try:
        context.add_init_script(PROBE_JS)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        tracker = ApiTracker()
        tracker.attach(page)
        log_in(page)
        before = main_thread(cdp)
        opened = summarize_first_paint(open_annotator(page, item_id))
        at_tile = main_thread(cdp)
        tracker.wait_idle(page)
        segments_listed = page.get_by_test_id("segment-row").count()
        out: dict[str, Any] = {
            "first_paint": opened,
            "open_main_thread": main_thread_delta(before, at_tile),
            "segment_rows": segments_listed,
        }

        def zoom() -> dict[str, Any]:
            for _ in range(zoom_steps):
                page.keyboard.press("Equal")
                page.wait_for_timeout(250)
            return {"zoom_slider": float(page.get_by_test_id("zoom-slider").input_value())}

        out["zoom"] = recorded(page, cdp, zoom)
        tracker.wait_idle(page)
        page.wait_for_timeout(500)
        state = page.evaluate(SCROLL_STATE_JS)
        box = state["box"]
        page.mouse.move(box["x"] + box["w"] / 2, box["y"] + box["h"] / 2)

        def wheel() -> dict[str, Any]:
            span = state["width"] - state["client"]
            events = min(2000, math.ceil(span / wheel_px) + 5)
            mode = "shift+wheel (deltaY)"
            page.keyboard.down("Shift")
            try:
                for n in range(events):
                    if mode.endswith("(deltaY)"):
                        page.mouse.wheel(0, wheel_px)
                    else:
                        page.mouse.wheel(wheel_px, 0)
                    time.sleep(1 / 60)
                    if n == 5 and page.evaluate(SCROLL_STATE_JS)["left"] <= state["left"]:
                        # Shift+wheel did not scroll sideways here: a sideways wheel, as from a
                        # trackpad, does; the page may have scrolled down instead.
                        mode = "shift+wheel (deltaX)"
                        page.evaluate("() => window.scrollTo(0, 0)")
            finally:
                page.keyboard.up("Shift")
            end = page.evaluate(SCROLL_STATE_JS)
            return {
                "mode": mode,
                "events": events,
                "scrolled_px": end["left"] - state["left"],
                "scroll_range_px": span,
            }

        out["scroll_wheel"] = recorded(page, cdp, wheel)
        tracker.wait_idle(page)
        page.keyboard.press("Home")
        tracker.wait_idle(page)

        def keys() -> dict[str, Any]:
            before = page.evaluate(SCROLL_STATE_JS)["left"]
            for _ in range(60):
                page.keyboard.press("Shift+ArrowRight")
                time.sleep(0.03)
            return {
                "presses": 60,
                "scrolled_px": page.evaluate(SCROLL_STATE_JS)["left"] - before,
                "time_display": page.get_by_test_id("time-display").inner_text(),
            }

        out["scroll_keys"] = recorded(page, cdp, keys)
        tracker.wait_idle(page)
        page.wait_for_timeout(300)
        found = page.evaluate(VISIBLE_SEGMENTS_JS)
        if not found["visible"]:
            raise BenchError(f"no segment wide enough to drag in view ({found['total']} regions)")
        seg = found["visible"][0]
        x, y = seg["x"] + seg["w"] / 2, seg["y"] + seg["h"] / 2

        def drag() -> dict[str, Any]:
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 200, y, steps=60)
            page.mouse.up()
            page.wait_for_timeout(200)
            moved = page.evaluate(SEGMENT_BOX_JS, seg["id"])
            return {
                "segment_width_px": seg["w"],
                "moved_px": (moved["x"] - seg["x"]) if moved else None,
                "regions_in_dom": found["total"],
            }

        out["drag"] = recorded(page, cdp, drag)
        tracker.wait_idle(page)
        out["save_state"] = page.get_by_test_id("save-status").get_attribute("data-state")
        return out
    finally:
        context.close()


# --- the run ------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    wavesurfer = json.loads((WAVESURFER / "package.json").read_text())["version"]
    manifest = json.loads(FRONTEND_MANIFEST.read_text()) if FRONTEND_MANIFEST.exists() else {}
    bundle = manifest.get("src/main.ts", {}).get("file", "missing")
    src = REPO_ROOT / "frontend" / "src"
    stale = FRONTEND_MANIFEST.exists() and any(
        p.stat().st_mtime > FRONTEND_MANIFEST.stat().st_mtime for p in src.rglob("*.ts")
    )
    from importlib.metadata import version

    return {
        "wavesurfer": wavesurfer,
        "bundle": bundle,
        "bundle_stale": str(stale),
        "playwright": version("playwright"),
    }


def run(args: argparse.Namespace, files: list[AudioFile]) -> dict[str, Any]:
    result: dict[str, Any] = {"files": {}, "first_paint": {}, "memory": {}, "baseline": {}}
    with temp_var_dir(keep=args.keep) as var_dir:
        env = app_env(var_dir=var_dir, port=free_port(), database_url=None, broker_url=None)
        manage(env, "migrate", "--noinput", "-v", "0")
        setup = django_shell(
            env,
            _SETUP.format(
                username=USERNAME,
                password=PASSWORD,
                schema=json.dumps(SCHEMA),
                marker=JSON_MARKER,
            ),
        )
        with serve(env, log_path=var_dir / "serve.log") as server:
            base = server.base_url
            session = requests.Session()
            session.headers["Authorization"] = f"Token {setup['token']}"
            items: dict[str, int] = {}
            for audio in files:
                t0 = time.perf_counter()
                item_id = upload(session, base, setup["project"], audio)
                t1 = time.perf_counter()
                wait_ready(session, base, item_id, timeout_s=args.ready_timeout_s)
                items[audio.label] = item_id
                result["files"][audio.label] = {
                    "path": str(audio.path),
                    "size_mb": audio.size_mb,
                    "item": item_id,
                    "upload_s": t1 - t0,
                    "processing_s": time.perf_counter() - t1,
                }
                print(
                    f"{audio.label}: item {item_id}, upload {t1 - t0:.1f} s, ready "
                    f"{time.perf_counter() - t1:.1f} s later",
                    file=sys.stderr,
                )
            result["loadavg_browser"] = loadavg()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                result["chromium"] = browser.version
                for audio in files:
                    runs = first_paint(browser, base, items[audio.label], runs=args.runs)
                    result["first_paint"][audio.label] = runs
                    print(
                        f"{audio.label}: first paint "
                        + ", ".join(f"{r['waveform_ms']:.0f}/{r['tile_ms']:.0f}" for r in runs)
                        + " ms",
                        file=sys.stderr,
                    )
                result["memory_empty"] = memory_empty(pw, runs=args.runs)
                print(f"empty page: {result['memory_empty']['pss_mb']:.0f} MB", file=sys.stderr)
                for audio in files:
                    mem = memory_earmark(pw, base, items[audio.label])
                    result["memory"][audio.label] = mem
                    print(f"{audio.label}: {mem['pss_mb']:.0f} MB PSS", file=sys.stderr)
                if not args.skip_baseline:
                    with tempfile.TemporaryDirectory(prefix="earmark-bench-site-") as site_dir:
                        baseline_site(Path(site_dir), files)
                        with static_server(Path(site_dir)) as site:
                            for audio in files:
                                res = baseline_one(
                                    pw, site, audio, timeout_s=args.baseline_timeout_s
                                )
                                result["baseline"][audio.label] = res
                                print(
                                    f"{audio.label}: baseline {res['state']} after "
                                    f"{res.get('t', 0) / 1000:.1f} s {res.get('error') or ''}",
                                    file=sys.stderr,
                                )
                hour = files[0]
                segments = segments_payload(count=args.segments, duration_s=hour.duration_s)
                set_segments(session, base, items[hour.label], segments)
                result["responsiveness"] = {
                    "file": hour.label,
                    "segments": len(segments),
                    **responsiveness(
                        browser,
                        base,
                        items[hour.label],
                        zoom_steps=args.zoom_steps,
                        wheel_px=args.wheel_px,
                    ),
                }
                print("responsiveness done", file=sys.stderr)
            log = server.log_text()
            result["server_log_errors"] = sum(
                " ERROR " in line or "Traceback" in line for line in log.splitlines()
            )
    return result


# --- the report ---------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _first_paint_section(result: dict[str, Any], runs: int) -> list[str]:
    rows = []
    for label, fp in result["first_paint"].items():
        wave = _median([r["waveform_ms"] for r in fp])
        tile = _median([r["tile_ms"] for r in fp])
        verdict = ""
        if label.startswith("3 h"):
            verdict = "ok" if max(wave or 0, tile or 0) <= TARGET_FIRST_PAINT_MS else "OVER"
        rows.append(
            [
                label,
                _ms(wave),
                _ms(tile),
                f"{_ms(fp[0]['waveform_ms'])} / {_ms(fp[0]['tile_ms'])}",
                ", ".join(_ms(r["waveform_ms"]) for r in fp),
                ", ".join(_ms(r["tile_ms"]) for r in fp),
                verdict,
            ]
        )
    headers = [
        "file",
        "(a) ready + waveform drawn",
        "(b) first spectrogram tile",
        "run 1 (a / b), cold tile cache",
        "all runs (a)",
        "all runs (b)",
        f"3 h: (a) and (b) ≤ {TARGET_FIRST_PAINT_MS:,.0f} ms",
    ]
    # Where the time goes: each row a moment (or a request's start → end), median over runs.
    moments: list[tuple[str, list[str]]] = [("HTML received", ["html"])]
    for key, name, _ in PHASES:
        if key == "js":
            # The module script is fetched while the HTML is parsed; only its end is telling.
            moments += [(name, ["js_end"]), ("DOMContentLoaded", ["dcl"])]
            continue
        moments.append((name, [f"{key}_start", f"{key}_end"]))
        if key == "spectrogram_info":
            moments += [
                ("annotator data-state=ready", ["state_ready"]),
                ("(a) waveform drawn", ["waveform"]),
            ]
    moments += [
        ("(b) first tile drawn", ["tile"]),
        ("long tasks before (a): count, total ms", ["longtasks_before_waveform", "longtask_total"]),
        ("long tasks from (a) to (b)", ["longtasks_a_to_b", "longtask_total_a_to_b"]),
        ("bytes: overview peaks, first tile", ["peaks_bytes", "tile_bytes"]),
    ]
    phase_rows = []
    for name, keys in moments:
        cells = []
        for fp in result["first_paint"].values():
            values = [_ms(_median([r["flat"].get(k) for r in fp])) for k in keys]
            cells.append((" → " if keys[0].endswith("_start") else ", ").join(values))
        phase_rows.append([name, *cells])
    return [
        f"### Time to first paint (ms from navigation start, median of {runs})",
        "",
        table(headers, rows),
        "",
        "Where it goes (median ms since navigation start; requests: start → end):",
        "",
        table(["moment", *result["first_paint"]], phase_rows),
        "",
    ]


def _by_type_delta(mem: dict[str, Any], empty: dict[str, Any]) -> str:
    """MB per process type over the empty page's, the larger first (tiny ones left out)."""
    kinds = set(mem["by_type_mb"]) | set(empty["by_type_mb"])
    delta = {k: mem["by_type_mb"].get(k, 0) - empty["by_type_mb"].get(k, 0) for k in kinds}
    shown = sorted((v, k) for k, v in delta.items() if abs(v) >= 2)
    return ", ".join(f"{k.removeprefix('utility:')} {v:+.0f}" for v, k in reversed(shown))


def _memory_section(result: dict[str, Any]) -> list[str]:
    empty = result["memory_empty"]
    typical = min(empty["samples"], key=lambda x: abs(x["pss_mb"] - empty["pss_mb"]))
    rows = []
    for label, m in result["memory"].items():
        over = m["pss_mb"] - empty["pss_mb"]
        anon = m["anon_shmem_mb"] - empty["anon_shmem_mb"]
        others = m["other_chromium_processes"]
        rows.append(
            [
                label,
                f"{over:,.0f}",
                f"{anon:,.0f} ({others})",
                f"{m['pss_before_gc_mb'] - empty['pss_mb']:,.0f}",
                f"{m['after_open']['pss_mb'] - empty['pss_mb']:,.0f}",
                f"{m['after_play']['pss_mb'] - empty['pss_mb']:,.0f} / "
                f"{m['after_play']['anon_shmem_mb'] - empty['anon_shmem_mb']:,.0f} "
                f"({m['played']['from'].split(' / ')[0]} → {m['played']['to'].split(' / ')[0]})",
                _by_type_delta(m, typical),
                "—" if m["js_heap_mb"] is None else f"{m['js_heap_mb']:,.1f}",
                f"{m['zoom_presses']} x =, slider {m['zoom_slider']:.2f}; "
                f"{m['tiles_requested']} tile requests; at {m['time_display']}",
                "ok" if over <= TARGET_MEMORY_MB else "OVER",
            ]
        )
    headers = [
        "file",
        "MB over empty",
        "anon + shmem over empty (other Chromium processes)",
        "same, before GC",
        "just opened (GC)",
        "after playing 3 s: PSS / anon + shmem (playhead)",
        "by process type, MB over empty",
        "JS heap MB",
        "explored",
        f"≤ {TARGET_MEMORY_MB:.0f} MB",
    ]
    samples = ", ".join(f"{s['pss_mb']:.0f}" for s in empty["samples"])
    kinds = ("Renderer", "GPU Process", "Browser")
    where = []
    for label, m in result["memory"].items():
        dump = m.get("allocators_mb") or {}
        cells = []
        for kind in kinds:
            sizes = dump.get(kind, {})
            shown = [a for a in _ALLOCATORS if sizes.get(a, 0) >= 0.5]
            cells.append(", ".join(f"{a} {sizes[a]:.1f}" for a in shown) or "—")
        c = m.get("canvases") or {}
        canvases = f"{c.get('canvases', 0)} ({c.get('tiles', 0)} tiles), {c.get('mpx', 0):.2f} Mpx"
        where.append([label, *cells, canvases, str(c.get("nodes", "—"))])
    return [
        "### Memory (PSS summed over all processes of a fresh Chromium, minus an empty page)",
        "",
        table(headers, rows),
        "",
        f"- empty page (about:blank in a fresh instance): {empty['pss_mb']:,.0f} MB PSS, median "
        f"of {len(empty['samples'])} ({samples}); every figure is taken after a garbage "
        "collection through CDP (HeapProfiler.collectGarbage), 'before GC' just before it",
        "- anon + shmem: Pss_Anon + Pss_Shmem of smaps_rollup, i.e. PSS without file-backed "
        "pages (the Chromium binary, fonts), whose share depends on how many other Chromium "
        "processes run on the machine at that moment (counted in brackets); empty page: "
        f"{empty['anon_shmem_mb']:,.0f} MB",
        "- explored: open the item, `=` until the zoom slider is at its end (128 px/s), End, "
        "Home, 3 x Shift+→, each followed by waiting until no API request is in flight",
        "- after playing: then Space, 3 s, Space; the first play gives the <audio> element its "
        "source, which starts Chromium's media pipeline and its audio service process",
        "",
        "Where it goes, after exploring and playing (Chromium memory-infra, MB per allocator; "
        "absolute, not over the empty page; shared memory is counted in each process that maps "
        "it); canvases and DOM nodes of the page after exploring:",
        "",
        table(["file", *kinds, "canvases in the page", "DOM nodes"], where),
        "",
    ]


def _baseline_section(result: dict[str, Any], wavesurfer: str) -> list[str]:
    empty = result["memory_empty"]["pss_mb"]
    rows = []
    for label, b in result["baseline"].items():
        earmark_ms = _median([r["waveform_ms"] for r in result["first_paint"][label]])
        earmark_mb = result["memory"][label]["pss_mb"] - empty
        b_mb = b["memory"]["pss_mb"] - empty if b.get("memory") else None
        b_raw = b["memory"]["pss_before_gc_mb"] - empty if b.get("memory") else None
        ready = b["state"] == "ready"
        outcome = f"{b['state']} after {b['t'] / 1000:.1f} s"
        if not ready:
            outcome += f": {b.get('error')}"
        rows.append(
            [
                label,
                outcome,
                "—" if b.get("fetched") is None else f"{b['fetched'] / 1000:.1f} s",
                "—" if earmark_ms is None else f"{earmark_ms / 1000:.2f} s",
                f"{earmark_ms / b['t']:.3f}" if ready and earmark_ms else "— (no waveform)",
                "—" if b_mb is None else f"{b_mb:,.0f} ({b_raw:,.0f} before GC)",
                f"{earmark_mb:,.0f}",
                f"{earmark_mb / b_mb:.2f}" if ready and b_mb and b_mb > 0 else "— (no waveform)",
            ]
        )
    headers = [
        "file",
        "baseline: navigation → ready / error",
        "baseline: file fetched",
        "Earmark (a)",
        "time Earmark / baseline",
        "baseline MB over empty",
        "Earmark MB over empty",
        "memory Earmark / baseline",
    ]
    return [
        f"### Baseline: plain wavesurfer.js {wavesurfer} with `url` only, vs Earmark",
        "",
        table(headers, rows),
        "",
        "- baseline: a static page (python http.server in this process) running "
        "`WaveSurfer.create({container, url, height: 128})` from frontend/node_modules/"
        f"wavesurfer.js/dist/wavesurfer.esm.js ({wavesurfer}, the version the frontend uses): "
        "it fetches the whole file and decodes it with Web Audio (resampled to wavesurfer's "
        "default 8 kHz). Memory as for Earmark (fresh instance, GC, minus the empty page), "
        "measured after ready/error, without zooming",
        "- earlier figures on this machine with wavesurfer.js 8.0.1: "
        + "; ".join(REFERENCE_BASELINE),
        "",
    ]


def _responsiveness_section(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    resp = result["responsiveness"]
    wheel, keys, drag, zoom = (resp[k] for k in ("scroll_wheel", "scroll_keys", "drag", "zoom"))
    cases = [
        (
            f"zoom in: {args.zoom_steps} x = (250 ms apart)",
            zoom,
            f"slider at {zoom['zoom_slider']:.2f}",
        ),
        (
            f"scroll across: {wheel['mode']}",
            wheel,
            f"{wheel['events']} events of {args.wheel_px} px at 60 Hz; scrolled "
            f"{wheel['scrolled_px']:,.0f} of {wheel['scroll_range_px']:,.0f} px",
        ),
        (
            "scroll: 60 x Shift+→ (30 ms apart)",
            keys,
            f"scrolled {keys['scrolled_px']:,.0f} px, playhead at {keys['time_display']}",
        ),
        (
            "drag a segment 200 px (60 mouse moves)",
            drag,
            f"segment {drag['segment_width_px']:.0f} px wide, moved {drag['moved_px']} px; "
            f"{drag['regions_in_dom']} segment regions in the DOM",
        ),
    ]
    rows = [
        [
            name,
            f"{s['elapsed_s']:.1f}",
            s["frames"],
            f"{s.get('p50_ms', 0):.1f}",
            f"{s.get('p95_ms', 0):.1f}",
            f"{s.get('max_ms', 0):.0f}",
            f"{s.get('longtasks', 0)} ({s.get('longtask_ms', 0):,.0f} ms)",
            _main_thread_cell(s["main_thread"]),
            note,
        ]
        for name, s, note in cases
    ]
    opened = resp["first_paint"]
    flat = opened["flat"]
    return [
        f"### Responsiveness: {resp['segments']} segments on the {resp['file']} item",
        "",
        table(
            [
                "interaction",
                "s",
                "frames",
                "p50 ms",
                "p95 ms",
                "max ms",
                "long tasks",
                "main thread: script / layout / style ms (layouts)",
                "note",
            ],
            rows,
        ),
        "",
        f"- opened with the segments: (a) {_ms(opened['waveform_ms'])} ms, (b) "
        f"{_ms(opened['tile_ms'])} ms (first tile answered at {_ms(flat['tile_end'])} ms); "
        f"long tasks before (a) {flat['longtasks_before_waveform']} "
        f"({_ms(flat['longtask_total'])} ms), from (a) to (b) {flat['longtasks_a_to_b']} "
        f"({_ms(flat['longtask_total_a_to_b'])} ms); main thread from navigation to (b): "
        f"{_main_thread_cell(resp['open_main_thread'])}; {resp['segment_rows']} rows in the "
        f"segment list; save status after the drag: {resp['save_state']}",
        "- frame time: the gap between consecutive requestAnimationFrame callbacks (16.7 ms "
        "at 60 Hz); long tasks: PerformanceObserver 'longtask' (> 50 ms each), count (total); "
        "main thread: CDP Performance.getMetrics (ScriptDuration, LayoutDuration, "
        "RecalcStyleDuration, LayoutCount) over the interaction",
    ]


def _main_thread_cell(m: dict[str, float]) -> str:
    return (
        f"{m['Script_ms']:,.0f} / {m['Layout_ms']:,.0f} / {m['RecalcStyle_ms']:,.0f} "
        f"({m['layouts']:,.0f})"
    )


def report(result: dict[str, Any], info: dict[str, Any], args: argparse.Namespace) -> str:
    ver = result["versions"]
    stale = " (OLDER than frontend/src: rebuild it)" if ver["bundle_stale"] == "True" else ""
    files = [
        [label, f"{f['size_mb']:,.0f}", f"{f['upload_s']:.1f}", f"{f['processing_s']:.1f}"]
        for label, f in result["files"].items()
    ]
    lines = [
        "## The annotator in headless Chromium",
        "",
        *machine_lines(info),
        f"- load average when the browser measurements started: {result['loadavg_browser']}",
        f"- Chromium {result['chromium']} (/usr/bin/chromium, headless, --disable-gpu: "
        f"software rendering), viewport {VIEWPORT['width']}x{VIEWPORT['height']}, Playwright "
        f"{ver['playwright']}; frontend bundle `{ver['bundle']}`{stale}, wavesurfer.js "
        f"{ver['wavesurfer']}",
        "- server: `manage.py serve --no-ml` on this machine, embedded defaults (SQLite, "
        f"file-system broker), gunicorn 2 workers x 4 threads; {result['server_log_errors']} "
        "error lines in its log",
        "",
        table(["file", "MB", "upload s", "worker: ready s after upload"], files),
        "",
        *_first_paint_section(result, args.runs),
        *_memory_section(result),
        *(_baseline_section(result, ver["wavesurfer"]) if result["baseline"] else []),
        *_responsiveness_section(result, args),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--runs", type=int, default=3, help="first-paint runs per file")
    parser.add_argument("--quick", action="store_true", help="only the 1-hour FLAC, one run")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--segments", type=int, default=500)
    parser.add_argument("--zoom-steps", type=int, default=5, help="= presses before scrolling")
    parser.add_argument("--wheel-px", type=int, default=200, help="pixels per wheel event")
    parser.add_argument("--baseline-timeout-s", type=float, default=180.0)
    parser.add_argument("--ready-timeout-s", type=float, default=900.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 1
    if not CHROMIUM.exists():
        print(f"bench_annotator: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    if not FRONTEND_MANIFEST.exists():
        print(
            "bench_annotator: build the frontend first (make run, or npm run build)",
            file=sys.stderr,
        )
        return 2
    info = machine()
    try:
        files = audio_files(args.data_dir, quick=args.quick)
        result = run(args, files)
    except BenchError as exc:
        print(f"bench_annotator: {exc}", file=sys.stderr)
        return 2
    result["versions"] = versions()
    print(report(result, info, args))
    arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_json(args.json, {"machine": info, "args": arguments, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
