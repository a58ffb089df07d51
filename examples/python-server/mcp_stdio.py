"""
mcp_stdio — a tiny MCP server framework for the stdio transport (Python 3.11 standard library only).

Wire format: newline-delimited JSON-RPC 2.0 on stdin/stdout (UTF-8, one message per line).
Logs go to stderr only; stdout carries protocol messages and nothing else.

    server = McpServer("my-server", "1.0.0")

    @server.tool("echo", "Returns its text",
                 {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
                 annotations={"readOnlyHint": True})
    def echo(args, ctx):
        return args["text"]

    server.run()

A tool handler receives (args, ctx) where args are the validated arguments (schema defaults applied)
and ctx is a ToolContext with:

    ctx.cancelled            threading.Event, set by notifications/cancelled
    ctx.check_cancelled()    raises Cancelled when the request was cancelled
    ctx.sleep(seconds)       sleeps, waking (and raising Cancelled) as soon as the call is cancelled
    ctx.progress(p, total, message)   sends notifications/progress when the caller asked for it
    ctx.streaming            True when the caller sent _meta.streamToken and the tool is streamable

A handler returns one of:

    str                      → {content: [{type: "text", text}]}
    ToolResult(...)          → text + optional structuredContent / isError
    Stream(iterable of str)  → with a streamToken: notifications/stream/chunk {streamToken, seq, data}
                               per piece, then {content: [], _meta: {streamed: {chunks, bytes}}};
                               without one: the pieces joined into one text content
    dict                     → used as the CallToolResult as is

Raising ToolError(msg) (or any other exception) gives a result with isError: true. Raising
Cancelled (or returning after ctx.cancelled was set) sends no response at all.

Concurrency: every tools/call runs on its own daemon thread; every write to stdout is one line
written and flushed under a lock. The server exits with code 0 when stdin reaches EOF (even while
tools are still running) and promptly on SIGTERM / SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

SUPPORTED_PROTOCOL_VERSIONS = ("2025-06-18", "2025-03-26", "2024-11-05")
LATEST_PROTOCOL_VERSION = SUPPORTED_PROTOCOL_VERSIONS[0]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

METHOD_PROGRESS = "notifications/progress"
METHOD_STREAM_CHUNK = "notifications/stream/chunk"
METHOD_CANCELLED = "notifications/cancelled"


class ToolError(Exception):
    """A tool's own failure: reported as a result with isError: true."""


class Cancelled(Exception):
    """Raised inside a tool when its request was cancelled; no response is sent."""


class RpcError(Exception):
    """A JSON-RPC error response."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


@dataclass
class ToolResult:
    text: str = ""
    structured: Any = None
    is_error: bool = False


@dataclass
class Stream:
    """An iterable of text pieces; streamed as chunks when the caller asked for it."""

    pieces: Iterable[str]


@dataclass
class Tool:
    name: str
    description: str
    input_schema: dict
    handler: Callable[[dict, "ToolContext"], Any]
    annotations: dict | None = None
    streaming: bool = False

    def describe(self) -> dict:
        out = {"name": self.name, "description": self.description, "inputSchema": self.input_schema}
        if self.annotations:
            out["annotations"] = self.annotations
        return out


def log(*parts: Any) -> None:
    """Writes one line to stderr (never stdout)."""
    try:
        sys.stderr.write(" ".join(str(p) for p in parts) + "\n")
        sys.stderr.flush()
    except Exception:
        pass


# ---------------------------------------------------------------------------- schema checks

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def validate(schema: dict, value: Any, path: str = "") -> list[str]:
    """A small JSON Schema subset: type, properties, required, additionalProperties: false,
    minimum/maximum, minLength/maxLength, enum, items. Returns a list of error strings."""
    errors: list[str] = []
    where = path or "(arguments)"
    expected = schema.get("type")
    if expected is not None:
        types = expected if isinstance(expected, list) else [expected]
        if not any(_TYPES.get(t, lambda v: True)(value) for t in types):
            return [f"{where} must be {' or '.join(types)}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where} must be one of {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where} must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where} must be <= {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{where} must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where} must have at most {schema['maxLength']} characters")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{where} is missing required property '{name}'")
        for name, sub in value.items():
            if name in props:
                errors.extend(validate(props[name], sub, f"{path}/{name}"))
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where} has unexpected property '{name}'")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors.extend(validate(schema["items"], item, f"{path}/{i}"))
    return errors


def apply_defaults(schema: dict, args: dict) -> dict:
    out = dict(args)
    for name, sub in schema.get("properties", {}).items():
        if name not in out and isinstance(sub, dict) and "default" in sub:
            out[name] = sub["default"]
        elif sub.get("type") == "integer" and isinstance(out.get(name), float):
            out[name] = int(out[name])
    return out


# ---------------------------------------------------------------------------- per-call context


class ToolContext:
    def __init__(self, server: "McpServer", request_id: Any, meta: dict, streaming: bool):
        self.server = server
        self.request_id = request_id
        self.cancelled = threading.Event()
        self.progress_token = meta.get("progressToken")
        self.stream_token = meta.get("streamToken") if streaming else None
        self.streaming = self.stream_token is not None
        self.cancel_reason: str | None = None

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled(self.cancel_reason or "cancelled")

    def sleep(self, seconds: float) -> None:
        if seconds > 0 and self.cancelled.wait(seconds):
            raise Cancelled(self.cancel_reason or "cancelled")
        self.check_cancelled()

    def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        if self.progress_token is None or self.cancelled.is_set():
            return
        params: dict[str, Any] = {"progressToken": self.progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        self.server.notify(METHOD_PROGRESS, params)


# ---------------------------------------------------------------------------- server


class McpServer:
    def __init__(self, name: str, version: str = "0.1.0", instructions: str | None = None,
                 verbose: bool = False):
        self.name = name
        self.verbose = verbose
        self.version = version
        self.instructions = instructions
        self.tools: dict[str, Tool] = {}
        self._write_lock = threading.RLock()  # re-entrant: _exit may run inside write()
        self._calls_lock = threading.Lock()
        self._calls: dict[Any, ToolContext] = {}
        self._out = sys.stdout.buffer
        self._in = sys.stdin.buffer
        self.initialized = False

    # -- registration

    def tool(self, name: str, description: str, input_schema: dict | None = None,
             annotations: dict | None = None, streaming: bool = False):
        schema = input_schema or {"type": "object", "properties": {}}

        def register(fn):
            self.tools[name] = Tool(name, description, schema, fn, annotations, streaming)
            return fn

        return register

    # -- output

    def write(self, message: dict) -> None:
        """Writes one JSON-RPC message as one line, flushed, under the write lock."""
        try:
            data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: fall back to \\u escapes
            data = json.dumps(message, separators=(",", ":")).encode("ascii")
        with self._write_lock:
            try:
                self._out.write(data)  # no `data + b"\n"`: that would copy a large message
                self._out.write(b"\n")
                self._out.flush()
            except (BrokenPipeError, ValueError, OSError):
                self._exit(0)

    def notify(self, method: str, params: dict | None = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.write(msg)

    def respond(self, request_id: Any, result: Any) -> None:
        self.write({"jsonrpc": "2.0", "id": request_id, "result": result})

    def respond_error(self, request_id: Any, code: int, message: str, data: Any = None) -> None:
        err: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            err["data"] = data
        self.write({"jsonrpc": "2.0", "id": request_id, "error": err})

    # -- lifecycle

    def _exit(self, code: int) -> None:
        """Leaves at once without waiting for tool threads (a complete line is never cut: the write
        lock is taken first, with a short timeout in case the reader of stdout has stalled)."""
        self._write_lock.acquire(timeout=2)  # never released: the process ends here
        for stream in (self._out, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)

    def _install_signals(self) -> None:
        def on_signal(signum, _frame):
            if self.verbose:
                log(f"[{self.name}] signal {signum}: exiting")
            self._exit(0)

        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(sig, on_signal)
            except (ValueError, OSError):
                pass

    def run(self) -> None:
        """Reads stdin until EOF, then exits with code 0."""
        self._install_signals()
        try:
            while True:
                line = self._in.readline()
                if not line:
                    break
                if not line.strip():
                    continue
                self.handle_line(line)
        except KeyboardInterrupt:
            pass
        self._exit(0)

    # -- dispatch

    def handle_line(self, line: bytes) -> None:
        try:
            message = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.respond_error(None, PARSE_ERROR, f"Parse error: {exc}")
            return
        if isinstance(message, list):
            if not message:
                self.respond_error(None, INVALID_REQUEST, "Invalid Request: empty batch")
            for item in message:
                self.handle_message(item)
            return
        self.handle_message(message)

    def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            rid = message.get("id") if isinstance(message, dict) else None
            self.respond_error(rid, INVALID_REQUEST, "Invalid Request")
            return
        method = message.get("method")
        has_id = "id" in message
        rid = message.get("id")
        if method is None:
            return  # a response to something we never sent: ignore
        if not isinstance(method, str):
            if has_id:
                self.respond_error(rid, INVALID_REQUEST, "Invalid Request: method must be a string")
            return
        params = message.get("params")
        if params is None:
            params = {}
        if not has_id:
            self.handle_notification(method, params)
            return
        if not isinstance(params, dict):
            self.respond_error(rid, INVALID_PARAMS, "params must be an object")
            return
        try:
            if method == "tools/call":
                self.start_call(rid, params)
                return
            result = self.handle_request(method, params)
            self.respond(rid, result)
        except RpcError as exc:
            self.respond_error(rid, exc.code, exc.message, exc.data)
        except Exception as exc:  # a bug in a handler: report it, keep serving
            traceback.print_exc(file=sys.stderr)
            self.respond_error(rid, INTERNAL_ERROR, f"Internal error: {exc}")

    def handle_notification(self, method: str, params: Any) -> None:
        if method == "notifications/initialized":
            self.initialized = True
        elif method == METHOD_CANCELLED and isinstance(params, dict):
            self.cancel(params.get("requestId"), params.get("reason"))
        # every other notification is ignored, as the spec asks

    def handle_request(self, method: str, params: dict) -> Any:
        if method == "initialize":
            return self.initialize(params)
        if method == "ping":
            return {}
        if method == "tools/list":
            return {"tools": [t.describe() for t in self.tools.values()]}
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")

    def initialize(self, params: dict) -> dict:
        requested = params.get("protocolVersion")
        version = requested if requested in SUPPORTED_PROTOCOL_VERSIONS else LATEST_PROTOCOL_VERSION
        result = {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": {"name": self.name, "version": self.version},
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    def cancel(self, request_id: Any, reason: Any = None) -> None:
        with self._calls_lock:
            ctx = self._calls.get(request_id)
        if ctx is not None:
            ctx.cancel_reason = str(reason) if reason is not None else None
            ctx.cancelled.set()

    # -- tools/call

    def start_call(self, rid: Any, params: dict) -> None:
        name = params.get("name")
        if not isinstance(name, str):
            raise RpcError(INVALID_PARAMS, "tools/call needs a string 'name'")
        args = params.get("arguments")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise RpcError(INVALID_PARAMS, "tools/call 'arguments' must be an object")
        meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
        tool = self.tools.get(name)
        if tool is None:
            self.respond(rid, error_result(f"Unknown tool: {name}"))
            return
        errors = validate(tool.input_schema, args)
        if errors:
            raise RpcError(INVALID_PARAMS, f"Invalid arguments for {name}: {'; '.join(errors)}", {"errors": errors})
        args = apply_defaults(tool.input_schema, args)
        ctx = ToolContext(self, rid, meta, tool.streaming)
        with self._calls_lock:  # registered before the thread starts, so an early cancel is not lost
            self._calls[rid] = ctx
        threading.Thread(target=self._run_call, args=(tool, args, ctx), name=f"call-{rid}", daemon=True).start()

    def _run_call(self, tool: Tool, args: dict, ctx: ToolContext) -> None:
        rid = ctx.request_id
        try:
            try:
                outcome = tool.handler(args, ctx)
                result = self._to_result(outcome, ctx)
            except Cancelled:
                result = None
            except ToolError as exc:
                result = error_result(str(exc))
            except RpcError as exc:
                if not ctx.cancelled.is_set():
                    self.respond_error(rid, exc.code, exc.message, exc.data)
                return
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                result = error_result(f"Tool {tool.name} failed: {type(exc).__name__}: {exc}")
            if ctx.cancelled.is_set():
                if self.verbose:
                    log(f"[{self.name}] request {rid!r} cancelled ({ctx.cancel_reason or 'no reason'}): no response")
                return
            if result is not None:
                self.respond(rid, result)
        finally:
            with self._calls_lock:
                if self._calls.get(rid) is ctx:
                    del self._calls[rid]

    def _to_result(self, outcome: Any, ctx: ToolContext) -> dict | None:
        if isinstance(outcome, Stream):
            if ctx.streaming:
                return self._stream(outcome, ctx)
            parts = []
            for piece in outcome.pieces:
                ctx.check_cancelled()
                parts.append(piece)
            return text_result("".join(parts))
        if isinstance(outcome, ToolResult):
            result = text_result(outcome.text)
            if outcome.structured is not None:
                result["structuredContent"] = outcome.structured
            if outcome.is_error:
                result["isError"] = True
            return result
        if isinstance(outcome, str):
            return text_result(outcome)
        if isinstance(outcome, dict):
            return outcome
        if outcome is None:
            return text_result("")
        return text_result(json.dumps(outcome, ensure_ascii=False))

    def _stream(self, stream: Stream, ctx: ToolContext) -> dict:
        seq = 0
        size = 0
        for piece in stream.pieces:
            ctx.check_cancelled()
            if not piece:
                continue
            self.notify(METHOD_STREAM_CHUNK, {"streamToken": ctx.stream_token, "seq": seq, "data": piece})
            seq += 1
            size += len(piece) if piece.isascii() else len(piece.encode("utf-8"))
        return {"content": [], "_meta": {"streamed": {"chunks": seq, "bytes": size}}}


def text_result(text: str) -> dict:
    return {"content": [{"type": "text", "text": text}]}


def error_result(text: str) -> dict:
    return {"content": [{"type": "text", "text": text}], "isError": True}


__all__ = [
    "McpServer", "ToolContext", "ToolResult", "Stream", "ToolError", "Cancelled", "RpcError",
    "text_result", "error_result", "log", "validate",
    "SUPPORTED_PROTOCOL_VERSIONS", "LATEST_PROTOCOL_VERSION",
    "PARSE_ERROR", "INVALID_REQUEST", "METHOD_NOT_FOUND", "INVALID_PARAMS", "INTERNAL_ERROR",
]
