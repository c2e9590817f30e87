"""``bpnn playground`` as a user runs it: the CLI serves on the loopback, headless Chromium
trains XOR on the page, and a raw socket sends uploads too large to accept."""

import os
import select
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """``python -m bpnn playground --no-browser`` on a free loopback port, stopped afterwards."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bpnn", "playground", "--no-browser", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/api/options", timeout=2) as response:
                    assert response.status == 200
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the playground did not start: "
                                       + (process.stdout.read() if process.poll() is not None
                                          else "timeout")) from None
                time.sleep(0.2)
        yield url, port, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_cli_listens_on_the_loopback_only(server):
    url, port, process = server
    listening = [s for s in _listening_addresses(process.pid) if s.endswith(f":{port}")]
    assert listening and all(s.startswith("127.0.0.1:") for s in listening), listening


def _listening_addresses(pid: int) -> list:
    """Local addresses of the process's listening TCP sockets, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    addresses = []
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A = LISTEN
                host, port = local.split(":")
                octets = [str(int(host[i:i + 2], 16)) for i in (6, 4, 2, 0)]
                addresses.append(f"{'.'.join(octets)}:{int(port, 16)}")
    return addresses


def _raw_upload(port: int, headers: str, chunks) -> tuple:
    """Send a request over a socket, chunk by chunk until the server answers; returns the
    status line, the reply and the body bytes sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(headers.encode())
        for chunk in chunks:
            readable, _, _ = select.select([connection], [], [], 0)
            if readable:
                break
            try:
                connection.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            part = connection.recv(65536)
            if not part:
                break
            reply += part
    return reply.split(b"\r\n", 1)[0].decode(), reply.decode(errors="replace"), sent


def test_a_declared_gigabyte_upload_is_refused_before_reading(server):
    _, port, _ = server
    headers = ("POST /api/uploads?name=big.csv HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Content-Type: text/csv\r\nContent-Length: 1000000000\r\n\r\n")
    status, reply, sent = _raw_upload(port, headers, [b"a,b\n1,2\n"] + [b"1,2\n" * 16384] * 16)
    assert " 413 " in status and "larger than the limit of 1,000,000 bytes" in reply
    assert sent < 2_000_000


def test_a_streamed_gigabyte_upload_is_cut_at_the_limit(server):
    _, port, _ = server
    headers = ("POST /api/uploads?name=big.csv HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"1,2,3\n" * 10_000

    def chunks():
        for _ in range(1_000_000_000 // len(piece)):
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            time.sleep(0.002)

    status, reply, sent = _raw_upload(port, headers, chunks())
    assert " 413 " in status and "larger than the limit" in reply
    assert sent < 50_000_000  # the socket buffers take some; a gigabyte was never read


def test_browser_trains_xor_and_draws_the_boundary(server, tmp_path):
    from playwright.sync_api import sync_playwright

    url, _, _ = server
    assert os.path.exists(CHROMIUM), "the browser test needs Debian's chromium: " \
        "apt-get install chromium (no browser is downloaded)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url + "/")
            page.wait_for_function(
                "document.getElementById('chain-text').textContent.includes('dE/dw')",
                timeout=30_000)
            assert page.input_value("#dataset") == "xor"
            page.fill("#hidden", "4")
            page.dispatch_event("#hidden", "change")
            page.wait_for_function("document.getElementById('message').textContent"
                                   ".includes('network 2-4-1')", timeout=30_000)
            page.click("#run")
            page.wait_for_function("Number(document.getElementById('epoch-value').textContent)"
                                   " >= 1", timeout=30_000)
            first_loss = float(page.inner_text("#loss-value"))
            page.wait_for_function("Number(document.getElementById('epoch-value').textContent)"
                                   " >= 120", timeout=120_000)
            page.click("#run")  # pause
            page.wait_for_function("document.getElementById('run').textContent === 'Run'")
            time.sleep(0.5)  # the last frame and the chain-rule refresh
            later_loss = float(page.inner_text("#loss-value"))
            assert later_loss < 0.6 * first_loss, (first_loss, later_loss)  # 0.26 -> 0.09
            # The boundary canvas holds the heat map: many colours, not a blank canvas.
            distinct = page.evaluate("""() => {
                const c = document.getElementById('boundary');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                const seen = new Set(); let painted = 0;
                for (let i = 0; i < d.length; i += 4) {
                    if (d[i + 3] > 0) painted++;
                    seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
                }
                return [seen.size, painted / (d.length / 4)];
            }""")
            assert distinct[0] > 50 and distinct[1] > 0.99, distinct
            # Clicking an edge of the diagram explains that weight.
            name, x, y = page.evaluate("""() => {
                const e = app.edges[app.edges.length - 2];
                return [e.name, (e.x0 + e.x1) / 2, (e.y0 + e.y1) / 2]; }""")
            assert page.input_value("#weight") != name
            page.click("#network", position={"x": x, "y": y})
            page.wait_for_function(f"document.getElementById('chain-text').textContent"
                                   f".includes('dE/d{name} =')", timeout=30_000)
            assert page.input_value("#weight") == name
            page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
