"""The app's HTTP server, standard library only (`http.server.ThreadingHTTPServer`): the page and its JSON.

    GET  /             the page (layerbridge.app.page)
    GET  /api/info     what the bridge is: task, labels, models, fused layers
    POST /api/answer   {"text": "..."} -> the answer and the heat map as JSON (Answerer.answer);
                       a problem with the text is a 400 with {"error": "..."}

Served on a loopback address (the default), it answers only requests addressed to a loopback name
(Host header), so a web page elsewhere cannot reach it through DNS rebinding; and it takes only JSON
bodies (Content-Type application/json), which a browser never sends across sites without asking.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from layerbridge.app.answer import Answerer
from layerbridge.app.page import PAGE
from layerbridge.errors import LayerbridgeError

MAX_BODY_BYTES = 1 << 20


def is_loopback(host: str) -> bool:
    """A loopback address (127.0.0.0/8, ::1) or "localhost"; not a name that merely starts like one."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port: "[::1]:8000" -> "::1", "localhost:80" -> "localhost"."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class AppHandler(BaseHTTPRequestHandler):
    """One request; the Answerer is the server's (`self.server.answerer`)."""

    server_version = "layerbridge-app"

    def refused(self) -> bool:
        """Answers 403 (and True) for a request this server must not serve: on a loopback address, one
        addressed to another name (a rebound DNS name of somebody's page)."""
        bound = self.server.server_address[0]
        if not is_loopback(bound):
            return False  # the user chose to serve other hosts (--host 0.0.0.0 or a name)
        name = host_name(self.headers.get("Host") or "")
        if is_loopback(name):
            return False
        self.send_json(HTTPStatus.FORBIDDEN, {"error": f"the app on {bound} answers requests to localhost only, "
                                                       f"not to Host {self.headers.get('Host')!r}"})
        return True

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.refused():
            return
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self.send_body(HTTPStatus.OK, PAGE.encode("utf-8"), "text/html; charset=utf-8")
        elif path == "/api/info":
            self.send_json(HTTPStatus.OK, self.server.answerer.info())
        else:
            self.send_json(HTTPStatus.NOT_FOUND, {"error": f"no page {path!r}: the app serves / and /api/"})

    def do_POST(self) -> None:  # noqa: N802
        if self.refused():
            return
        if self.path.split("?", 1)[0] != "/api/answer":
            self.send_json(HTTPStatus.NOT_FOUND, {"error": "POST {\"text\": ...} to /api/answer"})
            return
        try:
            text = self.read_text()
            payload = self.server.answerer.answer(text)
        except LayerbridgeError as err:
            self.send_json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
        except Exception as err:  # the server stays up; the page shows what went wrong
            traceback.print_exc(file=sys.stderr)
            self.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(err).__name__}: {err}"})
        else:
            self.send_json(HTTPStatus.OK, payload)

    def read_text(self) -> str:
        """The "text" of the request's JSON body; a DataError says what is wrong with it."""
        from layerbridge.errors import DataError

        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            raise DataError(f"send the request as JSON (Content-Type: application/json), not {content_type or 'untyped'}")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError as err:
            raise DataError(f"the request's Content-Length is not a number: {err}") from err
        if not 0 <= length <= MAX_BODY_BYTES:
            raise DataError(f"the request is {length} bytes; the app takes at most {MAX_BODY_BYTES}")
        try:
            body = json.loads(self.rfile.read(length).decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"the request is not JSON: {err}") from err
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise DataError('send a JSON object with a "text" string: {"text": "..."}')
        return body["text"]

    def send_json(self, status: int, payload) -> None:
        self.send_body(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; "
                                                    "style-src 'unsafe-inline'; img-src 'self' data:")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


class AppServer(ThreadingHTTPServer):
    daemon_threads = True  # a slow request never keeps the app from stopping


class AppServer6(AppServer):
    address_family = socket.AF_INET6


def make_server(answerer: Answerer, host: str = "127.0.0.1", port: int = 0, *,
                verbose: bool = False) -> ThreadingHTTPServer:
    """A bound server (port 0: a free one), not yet serving: call serve_forever()."""
    server = (AppServer6 if ":" in host else AppServer)((host, port), AppHandler)
    server.answerer = answerer
    server.verbose = verbose
    return server


def address(server: ThreadingHTTPServer) -> str:
    """The page's URL; a wildcard host is shown as 127.0.0.1 (where a browser here reaches it)."""
    host, port = server.server_address[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
