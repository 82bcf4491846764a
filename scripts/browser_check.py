"""Check that a real browser plays an overlay MP4: headless Chromium loads a page with a
<video> of it from a local web server, seeks into it, and a screenshot shows the frame.

    apt-get install chromium            # Debian's package: /usr/bin/chromium
    .venv/bin/python scripts/browser_check.py [OVERLAY.mp4]

Without an argument it annotates examples/signer.mp4 first. Kept out of the default test run
because it needs the browser; prints what the browser reported and exits 1 when the video did
not play, seek or draw. The server answers HTTP range requests, as a browser streaming a file
expects, and the check fails if playback needed the whole file first (faststart).
"""
from __future__ import annotations

import functools
import http.server
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required", "--hide-scrollbars", "--mute-audio"]
SEEK_TO = 1.0

PAGE = """<!doctype html><html><body style="margin:0;background:#000">
<video id="v" src="overlay.mp4" muted playsinline preload="auto" style="display:block;width:540px"></video>
<pre id="status" style="color:#fff">loading</pre>
<script>
const v = document.getElementById('v'), s = document.getElementById('status');
v.addEventListener('loadedmetadata', () => { s.textContent = 'metadata ' + v.duration; v.currentTime = SEEK; });
v.addEventListener('seeked', () => {
  s.textContent = 'seeked ' + v.currentTime.toFixed(2) + ' ' + v.videoWidth + 'x' + v.videoHeight; });
v.addEventListener('error', () => { s.textContent = 'error ' + (v.error && v.error.code); });
</script></body></html>""".replace("SEEK", str(SEEK_TO))


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler with byte ranges (browsers stream media with them)."""

    def log_message(self, *args) -> None:  # noqa: ANN002 - quiet
        pass

    def send_head(self):  # noqa: ANN201
        rng = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not rng or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start_s, _, end_s = rng.removeprefix("bytes=").partition("-")
        start = int(start_s or 0)
        end = min(int(end_s) if end_s else size - 1, size - 1)
        f = open(path, "rb")
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return _Limited(f, end - start + 1)


class _Limited:
    def __init__(self, f, n: int):  # noqa: ANN001
        self.f, self.n = f, n

    def read(self, k: int = -1) -> bytes:
        k = self.n if k < 0 else min(k, self.n)
        data = self.f.read(k)
        self.n -= len(data)
        return data

    def close(self) -> None:
        self.f.close()


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("browser check: Chromium not found (apt-get install chromium)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="posevid-browser-"))
    if len(sys.argv) > 1:
        shutil.copy(sys.argv[1], work / "overlay.mp4")
    else:
        subprocess.run([sys.executable, "-m", "posevid.cli", "annotate", str(ROOT / "examples" / "signer.mp4"),
                        "-o", str(work), "-q", "--no-csv"], check=True)
        (work / "signer.mp4").rename(work / "overlay.mp4")
    (work / "index.html").write_text(PAGE)
    handler = functools.partial(RangeHandler, directory=str(work))
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        common = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={work / 'profile'}", "--virtual-time-budget=8000"]
        dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        shot = work / "shot.png"
        subprocess.run([*common, f"--screenshot={shot}", "--window-size=540,760", url],
                       capture_output=True, timeout=120)
        server.shutdown()
    status = dom.split('id="status"', 1)[-1].split(">", 1)[-1].split("<", 1)[0] if 'id="status"' in dom else "no page"
    print(f"browser reported: {status}")
    image = cv2.imread(str(shot)) if shot.exists() else None
    drawn = image is not None and float(np.std(image[:700])) > 10.0  # a real frame, not a black box
    print(f"screenshot: {shot} ({'shows the frame' if drawn else 'blank or missing'})")
    ok = status.startswith("seeked") and abs(float(status.split()[1]) - SEEK_TO) < 0.2 and drawn
    print("browser check:", "passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
