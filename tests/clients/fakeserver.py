"""A small HTTP server on 127.0.0.1 that real SDKs talk to, counting requests per path.

It answers just enough of three protocols for the clients people wrap:

- OpenAI-compatible ``POST /v1/chat/completions`` (JSON, or server-sent
  events when the body says ``"stream": true``); the reply's content is
  derived from the request, so equal calls get equal answers; also
  ``POST /v1/embeddings``;
- plain JSON for httpx and requests: ``GET /lines`` answers three lines of
  text; any other ``GET`` echoes its path and query, any other ``POST`` its
  path and body;
- an S3-like bucket for boto3 (path-style): ``GET /<bucket>?list-type=2``
  (ListObjectsV2) and ``GET /<bucket>/<key>`` (GetObject); and DynamoDB's
  ``Query`` (``POST /``), answering the key value it was asked for.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    import openai

#: Objects in the fake bucket "bucket".
OBJECTS = {"a.txt": b"alpha", "b.txt": b"bravo", "dir/c.txt": b"charlie"}


def _answer(messages: list[dict[str, Any]], model: str) -> str:
    last = messages[-1]["content"] if messages else ""
    return f"echo({model}): {last}"


def _completion_id(body: dict[str, Any]) -> str:
    # Deterministic: the same request gets the same id, so cached and uncached results compare equal.
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    return f"chatcmpl-{digest}"


class FakeServer:
    """``ThreadingHTTPServer`` in a daemon thread; ``count(path)`` says how many requests reached *path*."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paths: Counter[str] = Counter()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _record(self) -> str:
                path = urlsplit(self.path).path
                with owner.lock:
                    owner.paths[path] += 1
                return path

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, value: Any, status: int = 200) -> None:
                self._send(status, json.dumps(value).encode(), "application/json")

            def do_GET(self) -> None:
                path = self._record()
                query = parse_qs(urlsplit(self.path).query)
                if path == "/lines":
                    body = b"".join(f"line {i}\n".encode() for i in range(3))
                    self._send(200, body, "text/plain")
                elif path == "/bucket" and query.get("list-type") == ["2"]:
                    self._send(200, owner.list_objects(query.get("prefix", [""])[0]), "application/xml")
                elif path.startswith("/bucket/"):
                    key = path[len("/bucket/"):]
                    if key in OBJECTS:
                        self._send(200, OBJECTS[key], "application/octet-stream")
                    else:
                        self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
                else:
                    self._json({"path": path, "query": {k: v[0] for k, v in query.items()}})

            def do_POST(self) -> None:
                path = self._record()
                raw = self._body()
                if path == "/v1/chat/completions":
                    body = json.loads(raw)
                    if body.get("stream"):
                        self._stream_chat(body)
                    else:
                        self._json(owner.chat_completion(body))
                elif path == "/v1/embeddings":
                    body = json.loads(raw)
                    texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
                    data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0]}
                            for i, t in enumerate(texts)]
                    usage = {"prompt_tokens": 1, "total_tokens": 1}
                    self._json({"object": "list", "data": data, "model": body["model"], "usage": usage})
                elif path == "/" and self.headers.get("X-Amz-Target") == "DynamoDB_20120810.Query":
                    # The item whose key the condition asks for: equal queries get equal answers.
                    values = json.loads(raw).get("ExpressionAttributeValues", {})
                    items = [{"id": value} for value in values.values()]
                    body = json.dumps({"Items": items, "Count": len(items), "ScannedCount": len(items)})
                    self._send(200, body.encode(), "application/x-amz-json-1.0")
                else:
                    self._json({"path": path, "body": json.loads(raw or b"null")})

            def _stream_chat(self, body: dict[str, Any]) -> None:
                text = _answer(body.get("messages", []), body.get("model", ""))
                ident = _completion_id(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for piece in text.split(" "):
                    chunk = {
                        "id": ident, "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                        "choices": [{"index": 0, "delta": {"content": piece + " "}, "finish_reason": None}],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, path: str | None = None) -> int:
        """Requests that reached *path* (every path when None)."""
        with self.lock:
            return sum(self.paths.values()) if path is None else self.paths[path]

    def chat_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages", [])
        content = _answer(messages, body.get("model", ""))
        tools = body.get("tools")
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tools:
            # instructor asks for one tool call whose arguments are the model's fields.
            fn = tools[0]["function"]
            props = fn.get("parameters", {}).get("properties", {})
            args = {name: _fill(spec, messages) for name, spec in props.items()}
            message = {
                "role": "assistant", "content": None,
                "tool_calls": [{"id": "call_1", "type": "function",
                                "function": {"name": fn["name"], "arguments": json.dumps(args)}}],
            }
        return {
            "id": _completion_id(body), "object": "chat.completion", "created": 0, "model": body.get("model", ""),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop" if not tools else "tool_calls"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def list_objects(self, prefix: str) -> bytes:
        keys = sorted(k for k in OBJECTS if k.startswith(prefix))
        contents = "".join(
            f"<Contents><Key>{k}</Key><Size>{len(OBJECTS[k])}</Size><ETag>\"{k}\"</ETag>"
            "<LastModified>2024-01-01T00:00:00.000Z</LastModified><StorageClass>STANDARD</StorageClass></Contents>"
            for k in keys
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>bucket</Name><Prefix>{prefix}</Prefix><KeyCount>{len(keys)}</KeyCount>"
            f"<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"
        ).encode()

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _fill(spec: dict[str, Any], messages: list[dict[str, Any]]) -> Any:
    kind = spec.get("type")
    text = str(messages[-1]["content"]) if messages else ""
    if kind == "integer":
        return len(text)
    if kind == "number":
        return float(len(text))
    if kind == "boolean":
        return True
    if kind == "array":
        return [text]
    return text


def openai_client(server: FakeServer) -> openai.OpenAI:
    """A real ``openai.OpenAI`` talking to *server* (no retries: a failure shows at once)."""
    import openai

    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="test", max_retries=0)


def openai_aclient(server: FakeServer) -> openai.AsyncOpenAI:
    """A real ``openai.AsyncOpenAI`` talking to *server*."""
    import openai

    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="test", max_retries=0)

