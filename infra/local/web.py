"""The local CloudFront: the web page, ``/config.json`` and ``/api/*`` on one origin.

As in AWS, the browser talks to one origin: static files from ``web/``, the API under ``/api/``
(no CORS). Sign-in goes to Cognito: in AWS the browser calls Cognito's own endpoint; here
``/cognito/`` forwards to moto, adding only the credential scope moto needs to route the call to
the right region (Cognito's sign-in calls are unsigned).

Every answer carries the security headers of the template's CloudFront response-headers policy
(Content-Security-Policy, X-Frame-Options, HSTS, nosniff, referrer policy), read from the template,
so a page that breaks under the policy breaks here first. A request line longer than CloudFront
takes (its URL limit, well above what MAST sends) gets 414, as CloudFront answers it.
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
from infra.local.template import UnsupportedTemplateFeature

logger = logging.getLogger(__name__)

MAX_BODY = 12 * 1024 * 1024  # larger than API Gateway's 10 MB, so the handler sees and refuses it
API_GATEWAY_LIMIT = 10 * 1024 * 1024
#: The longest request line served (CloudFront refuses a URL over 8,192 bytes with 414; the local
#: server allows 64 KiB, as the standard library's reader does, and answers 414 beyond it).
MAX_REQUEST_LINE = 65536


def security_headers(policy: Mapping[str, Any]) -> dict[str, str]:
    """The headers a CloudFront ``ResponseHeadersPolicyConfig`` adds, written as CloudFront writes
    them. A setting this does not know stops the local stack rather than being left out."""
    config = dict(policy.get("SecurityHeadersConfig") or {})
    headers: dict[str, str] = {}
    if "ContentSecurityPolicy" in config:
        csp = str(config.pop("ContentSecurityPolicy")["ContentSecurityPolicy"])
        headers["Content-Security-Policy"] = " ".join(csp.split())
    if "FrameOptions" in config:
        headers["X-Frame-Options"] = str(config.pop("FrameOptions")["FrameOption"])
    if "ContentTypeOptions" in config:
        config.pop("ContentTypeOptions")
        headers["X-Content-Type-Options"] = "nosniff"
    if "ReferrerPolicy" in config:
        headers["Referrer-Policy"] = str(config.pop("ReferrerPolicy")["ReferrerPolicy"])
    if "StrictTransportSecurity" in config:
        hsts = config.pop("StrictTransportSecurity")
        value = f"max-age={int(hsts['AccessControlMaxAgeSec'])}"
        value += "; includeSubDomains" if hsts.get("IncludeSubdomains") else ""
        value += "; preload" if hsts.get("Preload") else ""
        headers["Strict-Transport-Security"] = value
    for item in (policy.get("CustomHeadersConfig") or {}).get("Items", []):
        headers[str(item["Header"])] = str(item["Value"])
    unknown = set(config) | (set(policy) - {"Name", "Comment", "SecurityHeadersConfig", "CustomHeadersConfig"})
    if unknown:
        raise UnsupportedTemplateFeature(
            f"response-headers policy settings the local web server does not serve: {sorted(unknown)}")
    return headers


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
        headers: Mapping[str, str],
    ) -> None:
        """``headers``: the response-headers policy's (:func:`security_headers`), on every answer."""
        self.headers = dict(headers)
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
                logger.debug("%s %s", self.command, getattr(self, "path", "").split("?")[0])

            def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
                self.send_response(status)
                # The policy's headers override the origin's, as CloudFront's do with Override.
                overridden = {k.lower() for k in outer.headers} | {"content-length", "connection", "transfer-encoding"}
                for key, value in headers.items():
                    if key.lower() not in overridden:
                        self.send_header(key, value)
                for key, value in outer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """A request line over MAX_REQUEST_LINE (the standard library's reader stops there):
                read the rest of the request, then answer 414 in words. Answering before reading it
                made the socket reset, so the client saw the connection drop instead of an answer."""
                if code != 414:
                    super().send_error(code, message, explain)
                    return
                self._drain_request()
                self.close_connection = True
                self._send(414, {"Content-Type": "application/json"},
                           json.dumps({"message": f"the request line is longer than {MAX_REQUEST_LINE} bytes"})
                           .encode())

            def _drain_request(self) -> None:
                budget = MAX_BODY  # never read without end: past this the connection is simply closed
                line = self.raw_requestline
                while not line.endswith(b"\n") and budget > 0:
                    line = self.rfile.readline(min(budget, MAX_REQUEST_LINE))
                    budget -= len(line)
                    if not line:
                        return
                length = 0
                for _ in range(200):  # the headers, up to the blank line
                    header = self.rfile.readline(MAX_REQUEST_LINE)
                    if header in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = header.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length" and value.strip().isdigit():
                        length = int(value.strip())
                if 0 < length <= budget:
                    self.rfile.read(length)

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
