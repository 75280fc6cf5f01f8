"""The shipped nginx config (deploy/nginx) run for real on loopback, and a tiny DNS server
whose answers a test changes, so nginx's re-resolution of the app's name can be shown."""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.support.tools import REPO, require_tool

NGINX_DIR = REPO / "deploy" / "nginx"


def render_nginx(
    prefix: Path, upstream: str, listen: str, extra_http: str = "", resolver: str = "127.0.0.1"
) -> Path:
    """Render the shipped config for a non-root, loopback nginx under ``prefix``.

    The site template gets the same substitution the nginx image's entrypoint does (only the
    named variables); nginx.conf gets its container paths (/etc/nginx, /tmp) moved under prefix.
    """
    template = (NGINX_DIR / "templates" / "shipshape.conf.template").read_text()
    values = {"UPSTREAM": upstream, "LISTEN_PORT": listen, "RESOLVER": resolver}
    site = re.sub(r"\$\{([A-Z_]+)\}", lambda m: values.get(m.group(1), m.group(0)), template)
    assert "${" not in site, "template uses a variable the deployment does not set"
    etc = prefix / "etc"
    (etc / "conf.d").mkdir(parents=True)
    (etc / "conf.d" / "shipshape.conf").write_text(site)
    shutil.copy("/etc/nginx/mime.types", etc / "mime.types")
    main = (NGINX_DIR / "nginx.conf").read_text()
    moved = {"/etc/nginx/": f"{etc}/", "/tmp/": f"{prefix}/"}
    main = re.sub("|".join(map(re.escape, moved)), lambda m: moved[m.group(0)], main)
    main = main.replace("http {", "http {\n" + extra_http, 1)
    conf = etc / "nginx.conf"
    conf.write_text(main)
    return conf


@contextlib.contextmanager
def running_nginx(prefix: Path, conf: Path, edge_port: int) -> Iterator[subprocess.Popen[bytes]]:
    nginx = require_tool("nginx", "make system-deps", "/usr/sbin/nginx")
    args = [nginx, "-p", str(prefix), "-c", str(conf), "-e", "stderr"]
    test = subprocess.run([*args, "-t"], capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    log = prefix / "nginx.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*args, "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{edge_port}/nginx-health", timeout=2
                ):
                    break
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


class DnsServer:
    """Answers A queries for every name with `addresses` (TTL 1 s), over UDP on loopback."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DnsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                query, client = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(Exception):
                self.sock.sendto(self._answer(query), client)

    def _answer(self, query: bytes) -> bytes:
        self.queries += 1
        (ident,) = struct.unpack("!H", query[:2])
        end = 12
        while query[end] != 0:
            end += query[end] + 1
        question = query[12 : end + 5]
        qtype = struct.unpack("!H", query[end + 1 : end + 3])[0]
        addresses = list(self.addresses) if qtype == 1 else []
        header = struct.pack("!HHHHHH", ident, 0x8180, 1, len(addresses), 0, 0)
        answers = b"".join(
            struct.pack("!HHHIH", 0xC00C, 1, 1, 1, 4) + socket.inet_aton(address)
            for address in addresses
        )
        return header + question + answers
