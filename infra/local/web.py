"""The local CloudFront: the web page, ``/config.json`` and ``/api/*`` on one origin.

As in AWS, the browser talks to one origin: static files from ``web/``, the API under ``/api/``
(no CORS). Sign-in goes to Cognito: in AWS the browser calls Cognito's own endpoint; here
``/cognito/`` forwards to moto, adding only the credential scope moto needs to route the call to
the right region (Cognito's sign-in calls are unsigned).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from infra.local.api import LocalApi, cognito_scope_header

logger = logging.getLogger(__name__)

MAX_BODY = 12 * 1024 * 1024  # larger than API Gateway's 10 MB, so the handler sees and refuses it
API_GATEWAY_LIMIT = 10 * 1024 * 1024


class LocalWebServer:
    """Serves the page, the API and the Cognito forwarder on ``host:port`` in a thread."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        web_root: Path,
        api: LocalApi,
        config: Mapping[str, Any],
        aws_endpoint: str,
        region: str,
    ) -> None:
        self.web_root = web_root
        self.api = api
        self.config = dict(config)
        self.aws_endpoint = aws_endpoint.rstrip("/")
        self.region = region
        handler = self._handler_class()
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="local-web", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "MAST-local"
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
                logger.debug("%s %s", self.command, self.path.split("?")[0])

            def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _body(self) -> bytes | None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    return None
                return self.rfile.read(length) if length else b""

            def _dispatch(self) -> None:
                path, _, query = self.path.partition("?")
                if path.startswith("/api/") or path == "/api":
                    self._api(path[len("/api"):] or "/", query)
                elif path.startswith("/cognito/") or path == "/cognito":
                    self._cognito()
                elif path == "/config.json" and self.command in ("GET", "HEAD"):
                    self._send(200, {"Content-Type": "application/json", "Cache-Control": "no-store"},
                               json.dumps(outer.config).encode())
                elif self.command in ("GET", "HEAD"):
                    self._static(path)
                else:
                    self._send(405, {"Content-Type": "text/plain"}, b"method not allowed")

            def _api(self, path: str, query: str) -> None:
                body = self._body()
                if body is None or len(body) > API_GATEWAY_LIMIT:
                    self.close_connection = True
                    self._send(413, {"Content-Type": "application/json"},
                               json.dumps({"message": "Request Too Long"}).encode())
                    return
                response = outer.api.handle(
                    self.command, path, query, dict(self.headers.items()), body, self.client_address[0]
                )
                self._send(response.status, response.headers, response.body)

            def _cognito(self) -> None:
                body = self._body() or b""
                headers = {
                    "Content-Type": self.headers.get("Content-Type", "application/x-amz-json-1.1"),
                    "X-Amz-Target": self.headers.get("X-Amz-Target", ""),
                    "Authorization": cognito_scope_header(outer.region),
                }
                upstream = requests.post(f"{outer.aws_endpoint}/", data=body, headers=headers, timeout=30)
                self._send(upstream.status_code, {"Content-Type": upstream.headers.get("Content-Type", "application/json")},
                           upstream.content)

            def _static(self, path: str) -> None:
                relative = path.lstrip("/") or "index.html"
                target = (outer.web_root / relative).resolve()
                root = outer.web_root.resolve()
                if root not in target.parents and target != root:
                    self._send(404, {"Content-Type": "text/plain"}, b"not found")
                    return
                if target.is_dir():
                    target = target / "index.html"
                if not target.is_file():
                    self._send(404, {"Content-Type": "text/plain"}, b"not found")
                    return
                content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                if target.suffix == ".js":
                    content_type = "text/javascript"
                self._send(200, {"Content-Type": content_type, "Cache-Control": "no-cache"}, target.read_bytes())

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

            def _refuse(self) -> None:
                """Any other method (TRACE, CONNECT, QUERY…): CloudFront answers 405 to methods no
                behaviour allows (the standard library's default, 501, would read as a server error)."""
                self._send(405, {"Content-Type": "text/plain", "Allow": "GET, HEAD, OPTIONS, PUT, PATCH, POST, DELETE"},
                           b"method not allowed")

            def __getattr__(self, name: str) -> Any:
                if name.startswith("do_"):
                    return self._refuse
                raise AttributeError(name)

        return Handler
