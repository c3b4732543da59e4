"""Open a local HTML file in a real headless Chromium and report on it, for tests.

``open_page`` launches Chromium with a throwaway profile, drives it over the Chrome DevTools
Protocol (CDP, a JSON websocket) and returns the errors the page logged, the value of a JS
expression once it became truthy and, if asked, a full-page PNG screenshot. The browser is
always shut down (its whole process group killed, its profile removed), also on failure.

Needs ``websocket-client`` and Debian's ``chromium`` (``./dev.sh test`` installs both); a test that
calls it fails, rather than skips, where Chromium is missing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from subprocess import DEVNULL
from typing import Any, NamedTuple

import websocket


class PageReport(NamedTuple):
    errors: list[str]  # console.error/assert, uncaught exceptions, Log entries of level "error"
    value: Any  # the JSON value of ready_js once truthy (or of after_ready_js, if given)
    screenshot: Path | None  # the PNG written, if asked


def find_chromium() -> str | None:
    """The path of a Chromium/Chrome executable on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


class _Cdp:
    """A minimal synchronous CDP client: matches responses by id, buffers events."""

    def __init__(self, ws_url: str, deadline: float) -> None:
        self.deadline = deadline
        # No Origin header (else Chrome >= 111 wants --remote-allow-origins); never use a proxy.
        self.ws = websocket.create_connection(
            ws_url, timeout=self._left(), suppress_origin=True, http_no_proxy=["127.0.0.1"]
        )
        self.events: list[dict[str, Any]] = []
        self.last_id = 0

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("Chromium did not answer in time")
        return left

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        self.ws.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:
            self.ws.settimeout(self._left())
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException as e:
                raise TimeoutError(f"no answer to {method}") from e
            if msg.get("id") == self.last_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JS expression, promises awaited; RuntimeError if it throws."""
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            raise RuntimeError(d.get("exception", {}).get("description", d.get("text", "exception")))
        return res["result"].get("value")

    def close(self) -> None:
        self.ws.close()


def _errors(events: list[dict[str, Any]]) -> list[str]:
    """One line per error-level event: console.error/assert, uncaught exception, Log entry."""
    out = []
    for ev in events:
        method, p = ev["method"], ev.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = (str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            out.append(f"console.{p['type']}: " + " ".join(args))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append("exception: " + d.get("exception", {}).get("description", d.get("text", "")))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            entry = p["entry"]
            out.append(f"log: {entry.get('text', '')} {entry.get('url', '')}".rstrip())
    return out


def _devtools_port(profile: Path, proc: subprocess.Popen[bytes], log: Path, deadline: float) -> int:
    """Chromium writes the port it picked for --remote-debugging-port=0 to DevToolsActivePort."""
    port_file = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Chromium exited ({proc.returncode}): {log.read_text(errors='replace')}")
        lines = port_file.read_text().split("\n") if port_file.exists() else []
        if len(lines) >= 2 and lines[0].isdigit():  # port, then the browser's ws path
            return int(lines[0])
        time.sleep(0.05)
    raise TimeoutError("Chromium did not open its DevTools port")


def _page_ws_url(port: int, deadline: float) -> str:
    """The websocket URL of the (about:blank) page target, from /json/list."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # ignore *_proxy env vars
    while time.monotonic() < deadline:
        with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
            pages = [t for t in json.load(r) if t.get("type") == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.05)
    raise TimeoutError("Chromium opened no page target")


def open_page(
    html: Path,
    *,
    ready_js: str,
    timeout: float = 30.0,
    screenshot: Path | None = None,
    width: int = 1400,
    height: int = 1000,
    after_ready_js: str | None = None,
    mouse_at_js: str | None = None,
) -> PageReport:
    """Launch chromium headless, load file://html, wait until the JS expression `ready_js` evaluates
    truthy (polled with Runtime.evaluate, promises awaited), optionally move the mouse to the viewport
    point ``{x, y}`` that `mouse_at_js` returns, optionally evaluate `after_ready_js` (its value
    replaces `value`), save a full-page screenshot, collect errors, then shut the browser down
    (always: kill its process group, remove the temporary profile).

    `timeout` bounds launch + load + waiting for ready_js; the steps after ready get a fresh `timeout`.
    Raises TimeoutError, with the last value seen and the errors collected, if ready_js never
    becomes truthy; FileNotFoundError if `html` or Chromium is missing.
    """
    html = Path(html).resolve()
    if not html.is_file():
        raise FileNotFoundError(html)
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("no chromium, chromium-browser or google-chrome on PATH")
    deadline = time.monotonic() + timeout
    with contextlib.ExitStack() as stack:  # unwinds in reverse: close the socket, kill, remove the profile
        tmp_dir = tempfile.TemporaryDirectory(prefix="hardsearch-chromium-", ignore_cleanup_errors=True)
        tmp = Path(stack.enter_context(tmp_dir))
        profile, log = tmp / "profile", tmp / "chromium.log"
        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={width},{height}",
                "about:blank"]  # fmt: skip
        with log.open("wb") as out:  # Chromium's noisy stdout and stderr, shown if it dies at start
            proc = subprocess.Popen(args, stdin=DEVNULL, stdout=out, stderr=out, start_new_session=True)
        stack.callback(_kill_group, proc)
        port = _devtools_port(profile, proc, log, deadline)
        cdp = stack.enter_context(contextlib.closing(_Cdp(_page_ws_url(port, deadline), deadline)))
        for domain in ("Runtime", "Log", "Page"):
            cdp.call(f"{domain}.enable")
        nav = cdp.call("Page.navigate", url=html.as_uri())
        nav_error = [f"navigate: {nav['errorText']}"] if nav.get("errorText") else []

        # JS truthiness, not Python's ([] and {} are ready); the newline ends a trailing // comment.
        probe = f"Promise.resolve(({ready_js}\n)).then(v => ({{ready: !!v, value: v}}))"
        ready, value, threw = False, None, ""
        while not ready and time.monotonic() < deadline:
            try:
                res, threw = cdp.evaluate(probe), ""
                ready, value = res["ready"], res.get("value")
            except (RuntimeError, TimeoutError) as e:  # it threw, or the navigation reset the context
                threw = str(e)
            if not ready:
                time.sleep(0.1)
        if not ready:
            errors = nav_error + _errors(cdp.events)
            msg = f"{ready_js!r} not truthy in {timeout}s; last value {value!r}; errors {errors}"
            exc = TimeoutError(msg + (f"; it threw {threw!r}" if threw else ""))
            exc.value, exc.errors = value, errors  # type: ignore[attr-defined]
            raise exc

        cdp.deadline = time.monotonic() + timeout
        if mouse_at_js is not None:  # a real mouse move (Input domain), e.g. to raise a hover label
            at = cdp.evaluate(mouse_at_js)
            cdp.call("Input.dispatchMouseEvent", type="mouseMoved", x=at["x"], y=at["y"])
        if after_ready_js is not None:
            value = cdp.evaluate(after_ready_js)
        if screenshot is not None:
            size = cdp.call("Page.getLayoutMetrics").get("cssContentSize", {})
            clip = {"x": 0, "y": 0, "scale": 1, "width": max(width, size.get("width", 0)),
                    "height": max(height, size.get("height", 0))}  # fmt: skip
            shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        return PageReport(nav_error + _errors(cdp.events), value, screenshot)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the browser and everything it started (start_new_session made it a group leader)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=3)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers, or a browser that ignored SIGTERM
    proc.wait()
    # The browser never reaps its zygotes: they stay zombies until PID 1 reaps them (here 1-2 s).
    # Wait for that (at most 3 s) so that `pgrep chromium` finds nothing once open_page returns.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)  # succeeds while any member, zombie or not, is left
        except ProcessLookupError:
            return
        time.sleep(0.05)
