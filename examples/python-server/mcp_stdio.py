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

Beyond tools (each declared in the initialize result only when something is registered):

    @server.resource("demo://hello", "hello", mime_type="text/plain")
    def hello(uri):                      # str → text contents, bytes → base64 blob, list → contents as is
        return "Hello"

    @server.resource_template("demo://rules/{topic}", "rule", complete={"topic": lambda value, ctx_args: TOPICS})
    def rule(uri, params):               # params: the template's variables, URL-decoded
        return RULES[params["topic"]]   # raise ResourceNotFound(uri) for an unknown one

    @server.prompt("greet", "Greets someone", [{"name": "name", "required": True}], complete={"name": [...]})
    def greet(args):                     # str → one user message; list → the messages; dict → the result
        return f"Say hello to {args['name']}"

    server.resource_updated(uri)         notifications/resources/updated, if the client subscribed to uri
    server.resources_changed()           notifications/resources/list_changed (also prompts_changed, tools_changed)
    server.log(level, data, logger)      notifications/message, if level >= the client's logging/setLevel
                                         (info until the client sets one)

completion/complete filters a completer's candidates by the typed prefix (case-insensitive) and
returns at most 100. Inside a tool, the client's own features are requests to the client; each
checks that the client declared the capability (else ToolError), waits without blocking the
server, and is withdrawn (notifications/cancelled) when the tool call is cancelled:

    ctx.list_roots()                     roots/list (cached until notifications/roots/list_changed)
    ctx.sample(messages, max_tokens)     sampling/createMessage → the client's CreateMessageResult
    ctx.elicit(message, schema)          elicitation/create (form mode) → {action, content?}
    ctx.log(level, data)                 notifications/message with the tool's name as logger

Concurrency: every tools/call runs on its own daemon thread; every write to stdout is one line
written and flushed under a lock. The server exits with code 0 when stdin reaches EOF (even while
tools are still running) and promptly on SIGTERM / SIGINT.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import unquote

SUPPORTED_PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
LATEST_PROTOCOL_VERSION = SUPPORTED_PROTOCOL_VERSIONS[0]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002

LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
MAX_COMPLETIONS = 100  # the most values one completion/complete result may carry (MCP)

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


class ResourceNotFound(RpcError):
    """resources/read of a URI the server does not have (MCP's -32002)."""

    def __init__(self, uri: str):
        super().__init__(RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})


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


Completer = Callable[[str, dict], Iterable[str]] | Iterable[str]
"""Completion candidates for one argument: a fixed list, or fn(typed value, other arguments)."""


@dataclass
class Resource:
    uri: str
    name: str
    reader: Callable[[str], Any]
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None

    def describe(self) -> dict:
        return _described({"uri": self.uri, "name": self.name}, self.title, self.description, self.mime_type)


@dataclass
class ResourceTemplate:
    uri_template: str
    name: str
    reader: Callable[[str, dict], Any]
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    complete: dict[str, Completer] = field(default_factory=dict)

    def __post_init__(self):
        # RFC 6570 level 1 only ({var}): each variable matches one path segment.
        parts = re.split(r"\{(\w+)\}", self.uri_template)
        pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/?#]+)" for i, p in enumerate(parts))
        self._pattern = re.compile(pattern)

    def match(self, uri: str) -> dict | None:
        m = self._pattern.fullmatch(uri)
        return {k: unquote(v) for k, v in m.groupdict().items()} if m else None

    def describe(self) -> dict:
        return _described({"uriTemplate": self.uri_template, "name": self.name}, self.title, self.description, self.mime_type)


@dataclass
class Prompt:
    name: str
    description: str
    arguments: list[dict]
    handler: Callable[[dict], Any]
    title: str | None = None
    complete: dict[str, Completer] = field(default_factory=dict)

    def describe(self) -> dict:
        out = _described({"name": self.name}, self.title, self.description, None)
        if self.arguments:
            out["arguments"] = self.arguments
        return out


def _described(out: dict, title: str | None, description: str | None, mime_type: str | None) -> dict:
    for key, value in (("title", title), ("description", description), ("mimeType", mime_type)):
        if value is not None:
            out[key] = value
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
    def __init__(self, server: "McpServer", request_id: Any, meta: dict, streaming: bool, tool: str = ""):
        self.server = server
        self.request_id = request_id
        self.tool = tool
        self.cancelled = threading.Event()
        self.progress_token = meta.get("progressToken")
        self.stream_token = meta.get("streamToken") if streaming else None
        self.streaming = self.stream_token is not None
        self.cancel_reason: str | None = None
        self.waiting: threading.Event | None = None  # set while a request to the client is pending

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

    def log(self, level: str, data: Any) -> None:
        """notifications/message with this tool's name as the logger (if the client's level lets it through)."""
        self.server.log(level, data, self.tool)

    # -- the client's features: requests to the client, made from this tool's thread

    def list_roots(self) -> list[dict]:
        """The client's roots (roots/list), cached until it sends notifications/roots/list_changed."""
        return self.server.client_roots(self)

    def sample(self, messages: list[dict] | str, max_tokens: int, **params: Any) -> dict:
        """Asks the client's model (sampling/createMessage). A str is one user message. Extra keyword
        arguments are sent as they are (systemPrompt, modelPreferences, temperature, …).
        Returns the CreateMessageResult: {role, content, model, stopReason?}."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": {"type": "text", "text": messages}}]
        self.require_capability("sampling", "ask the client's model (sampling)")
        return self.server.request_client("sampling/createMessage", {"messages": messages, "maxTokens": max_tokens, **params}, self)

    def elicit(self, message: str, requested_schema: dict, timeout: float = 600) -> dict:
        """Asks the user for input through the client (elicitation/create, form mode).
        Returns {action: "accept", content} (checked against the schema) or {action: "decline" | "cancel"}."""
        self.require_capability("elicitation", "ask the user for input (elicitation)")
        params: dict[str, Any] = {"message": message, "requestedSchema": requested_schema}
        if self.server.protocol_version >= "2025-11-25":  # the revision that added modes (and URL mode)
            params["mode"] = "form"
        answer = self.server.request_client("elicitation/create", params, self, timeout)
        if answer.get("action") == "accept":
            errors = validate(requested_schema, answer.get("content", {}))
            if errors:
                raise ToolError(f"The client's answer does not match the form: {'; '.join(errors)}")
        elif answer.get("action") not in ("decline", "cancel"):
            raise ToolError(f"The client answered elicitation/create with an unknown action: {answer.get('action')!r}")
        return answer

    def require_capability(self, name: str, what: str) -> None:
        if name not in self.server.client_capabilities:
            raise ToolError(f"The tool {self.tool} needs to {what}, but the client did not declare the '{name}' capability")


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
        self.resources: dict[str, Resource] = {}
        self.resource_templates: dict[str, ResourceTemplate] = {}
        self.prompts: dict[str, Prompt] = {}
        self._out = sys.stdout.buffer
        self._in = sys.stdin.buffer
        self.initialized = False
        # What the client said in initialize (its capabilities decide which requests we may send it).
        self.client_capabilities: dict = {}
        self.protocol_version = LATEST_PROTOCOL_VERSION
        self.log_level = "info"  # until the client sends logging/setLevel
        self._state_lock = threading.Lock()
        self._subscriptions: set[str] = set()
        self._roots: list[dict] | None = None
        # Requests we sent to the client, by id: [answered Event, response message].
        self._outgoing: dict[str, list] = {}
        self._next_outgoing = 0

    # -- registration

    def tool(self, name: str, description: str, input_schema: dict | None = None,
             annotations: dict | None = None, streaming: bool = False):
        schema = input_schema or {"type": "object", "properties": {}}

        def register(fn):
            self.tools[name] = Tool(name, description, schema, fn, annotations, streaming)
            return fn

        return register

    def resource(self, uri: str, name: str, description: str | None = None, mime_type: str | None = None,
                 title: str | None = None):
        """Registers fn(uri) as the reader of one resource (see the module docstring for what it returns)."""

        def register(fn):
            # Copy on write: a tool thread may add a resource while the reader thread lists them.
            self.resources = {**self.resources, uri: Resource(uri, name, fn, title, description, mime_type)}
            return fn

        return register

    def resource_template(self, uri_template: str, name: str, description: str | None = None,
                          mime_type: str | None = None, title: str | None = None,
                          complete: dict[str, Completer] | None = None):
        """Registers fn(uri, variables) as the reader of every URI the template matches."""

        def register(fn):
            template = ResourceTemplate(uri_template, name, fn, title, description, mime_type, complete or {})
            self.resource_templates = {**self.resource_templates, uri_template: template}
            return fn

        return register

    def prompt(self, name: str, description: str, arguments: list[dict] | None = None,
               title: str | None = None, complete: dict[str, Completer] | None = None):
        """Registers fn(arguments) as a prompt; `arguments` are MCP PromptArguments ({name, description?, required?})."""

        def register(fn):
            self.prompts = {**self.prompts, name: Prompt(name, description, arguments or [], fn, title, complete or {})}
            return fn

        return register

    # -- notifications about the server's own state

    def resource_updated(self, uri: str, title: str | None = None) -> None:
        """Tells the client a resource changed, if it subscribed to it."""
        with self._state_lock:
            subscribed = uri in self._subscriptions
        if subscribed:
            self.notify("notifications/resources/updated", {"uri": uri, **({"title": title} if title else {})})

    def resources_changed(self) -> None:
        self.notify("notifications/resources/list_changed")

    def prompts_changed(self) -> None:
        self.notify("notifications/prompts/list_changed")

    def tools_changed(self) -> None:
        self.notify("notifications/tools/list_changed")

    def log(self, level: str, data: Any, logger: str | None = None) -> None:
        """notifications/message, sent only at or above the level the client set (logging/setLevel)."""
        if LOG_LEVELS.index(level) < LOG_LEVELS.index(self.log_level):
            return
        params: dict[str, Any] = {"level": level, "data": data}
        if logger:
            params["logger"] = logger
        self.notify("notifications/message", params)

    # -- requests to the client (from tool threads only: they block until the client answers)

    def request_client(self, method: str, params: dict, ctx: "ToolContext", timeout: float = 600) -> dict:
        """Sends a request to the client and waits for its answer, the tool call's cancellation
        (the request is then withdrawn with notifications/cancelled) or the timeout. A client's
        error becomes a ToolError naming the method."""
        with self._state_lock:
            self._next_outgoing += 1
            rid = f"server-{self._next_outgoing}"  # never mistaken for the client's own ids in a log
            slot: list = [threading.Event(), None]
            self._outgoing[rid] = slot
        ctx.waiting = slot[0]  # cancel() sets it too, so one wait notices the answer or the cancellation
        try:
            self.write({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
            if not ctx.cancelled.is_set():  # (a cancel that came before `waiting` was set)
                slot[0].wait(timeout)
            if slot[1] is None:  # cancelled, or no answer in time: withdraw the request
                self.notify(METHOD_CANCELLED, {"requestId": rid, "reason": "the tool call ended"})
                ctx.check_cancelled()
                raise ToolError(f"The client did not answer {method} within {timeout:g} s")
        finally:
            ctx.waiting = None
            with self._state_lock:
                self._outgoing.pop(rid, None)
        response = slot[1]
        if "error" in response:
            error = response["error"] if isinstance(response["error"], dict) else {}
            raise ToolError(f"The client refused {method}: {error.get('message', 'error')} (code {error.get('code')})")
        result = response.get("result")
        if not isinstance(result, dict):
            raise ToolError(f"The client answered {method} with {type(result).__name__}, not an object")
        return result

    def client_roots(self, ctx: "ToolContext") -> list[dict]:
        with self._state_lock:
            cached = self._roots
        if cached is not None:
            return cached
        ctx.require_capability("roots", "know the client's roots")
        roots = self.request_client("roots/list", {}, ctx, timeout=30).get("roots")
        if not isinstance(roots, list):
            raise ToolError("The client answered roots/list without a roots array")
        roots = [r for r in roots if isinstance(r, dict) and isinstance(r.get("uri"), str)]
        with self._state_lock:
            self._roots = roots
        return roots

    def _answer(self, message: dict) -> None:
        """A response from the client to one of our requests (unknown ids are ignored: it came too late)."""
        with self._state_lock:
            slot = self._outgoing.get(message.get("id")) if isinstance(message.get("id"), str) else None
        if slot is not None:
            slot[1] = message
            slot[0].set()

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
            if has_id and ("result" in message or "error" in message):
                self._answer(message)
            return  # else: not a request, notification or response: ignore
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
        elif method == "notifications/roots/list_changed":
            with self._state_lock:
                self._roots = None  # asked again when a tool needs them
        # every other notification is ignored, as the spec asks

    def handle_request(self, method: str, params: dict) -> Any:
        if method == "initialize":
            return self.initialize(params)
        if method == "ping":
            return {}
        if method == "tools/list":
            return {"tools": [t.describe() for t in self.tools.values()]}
        if method == "logging/setLevel":
            return self.set_log_level(params)
        if self.resources or self.resource_templates:
            if method == "resources/list":
                return {"resources": [r.describe() for r in self.resources.values()]}
            if method == "resources/templates/list":
                return {"resourceTemplates": [t.describe() for t in self.resource_templates.values()]}
            if method == "resources/read":
                return self.read_resource(_string_param(params, "uri"))
            if method in ("resources/subscribe", "resources/unsubscribe"):
                uri = _string_param(params, "uri")
                with self._state_lock:
                    if method == "resources/subscribe":
                        self._subscriptions.add(uri)
                    else:
                        self._subscriptions.discard(uri)
                return {}
        if self.prompts:
            if method == "prompts/list":
                return {"prompts": [p.describe() for p in self.prompts.values()]}
            if method == "prompts/get":
                return self.get_prompt(params)
        if method == "completion/complete" and (self.prompts or self.resource_templates):
            return self.complete(params)
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")

    def initialize(self, params: dict) -> dict:
        requested = params.get("protocolVersion")
        version = requested if requested in SUPPORTED_PROTOCOL_VERSIONS else LATEST_PROTOCOL_VERSION
        self.protocol_version = version
        caps = params.get("capabilities")
        self.client_capabilities = caps if isinstance(caps, dict) else {}
        capabilities: dict[str, Any] = {"tools": {"listChanged": True}, "logging": {}}
        if self.resources or self.resource_templates:
            capabilities["resources"] = {"subscribe": True, "listChanged": True}
        if self.prompts:
            capabilities["prompts"] = {"listChanged": True}
        if self.prompts or self.resource_templates:
            capabilities["completions"] = {}
        result = {
            "protocolVersion": version,
            "capabilities": capabilities,
            "serverInfo": {"name": self.name, "version": self.version},
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    def set_log_level(self, params: dict) -> dict:
        level = params.get("level")
        if level not in LOG_LEVELS:
            raise RpcError(INVALID_PARAMS, f"level must be one of {', '.join(LOG_LEVELS)}")
        self.log_level = level
        return {}

    # -- resources, prompts, completion

    def read_resource(self, uri: str) -> dict:
        resource = self.resources.get(uri)
        if resource is not None:
            return {"contents": _contents(uri, resource.mime_type, resource.reader(uri))}
        for template in self.resource_templates.values():
            variables = template.match(uri)
            if variables is not None:
                return {"contents": _contents(uri, template.mime_type, template.reader(uri, variables))}
        raise ResourceNotFound(uri)

    def get_prompt(self, params: dict) -> dict:
        name = params.get("name")
        prompt = self.prompts.get(name) if isinstance(name, str) else None
        if prompt is None:
            raise RpcError(INVALID_PARAMS, f"Unknown prompt: {name} (available: {', '.join(self.prompts)})")
        args = params.get("arguments") or {}
        if not isinstance(args, dict) or not all(isinstance(v, str) for v in args.values()):
            raise RpcError(INVALID_PARAMS, "prompts/get 'arguments' must map names to strings")
        missing = [a["name"] for a in prompt.arguments if a.get("required") and not args.get(a["name"])]
        if missing:
            raise RpcError(INVALID_PARAMS, f"Prompt {name} needs the argument(s): {', '.join(missing)}")
        outcome = prompt.handler(args)
        if isinstance(outcome, str):
            return {"description": prompt.description, "messages": [{"role": "user", "content": {"type": "text", "text": outcome}}]}
        if isinstance(outcome, list):
            return {"description": prompt.description, "messages": outcome}
        return outcome

    def complete(self, params: dict) -> dict:
        ref, argument = params.get("ref"), params.get("argument")
        if not isinstance(ref, dict) or not isinstance(argument, dict) or not isinstance(argument.get("name"), str):
            raise RpcError(INVALID_PARAMS, "completion/complete needs a ref and an argument {name, value}")
        if ref.get("type") == "ref/prompt":
            owner = self.prompts.get(ref.get("name"))
        elif ref.get("type") == "ref/resource":
            owner = self.resource_templates.get(ref.get("uri"))
        else:
            raise RpcError(INVALID_PARAMS, f"Unknown completion reference type: {ref.get('type')!r}")
        if owner is None:
            raise RpcError(INVALID_PARAMS, f"Nothing to complete for {json.dumps(ref)}")
        completer = owner.complete.get(argument["name"])
        value = str(argument.get("value", ""))
        context = params.get("context", {}).get("arguments", {}) if isinstance(params.get("context"), dict) else {}
        candidates = list((completer(value, context) if callable(completer) else completer) or [])
        typed = value.lower()
        matches = [c for c in candidates if c.lower().startswith(typed)]
        return {"completion": {"values": matches[:MAX_COMPLETIONS], "total": len(matches), "hasMore": len(matches) > MAX_COMPLETIONS}}

    def cancel(self, request_id: Any, reason: Any = None) -> None:
        with self._calls_lock:
            ctx = self._calls.get(request_id)
        if ctx is not None:
            ctx.cancel_reason = str(reason) if reason is not None else None
            ctx.cancelled.set()
            waiting = ctx.waiting
            if waiting is not None:  # the call waits for the client: wake it up
                waiting.set()

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
        ctx = ToolContext(self, rid, meta, tool.streaming, tool.name)
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


def _string_param(params: dict, name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str):
        raise RpcError(INVALID_PARAMS, f"'{name}' must be a string")
    return value


def _contents(uri: str, mime_type: str | None, value: Any) -> list[dict]:
    """A reader's return value as resources/read contents: text, a base64 blob, or given as is."""
    if isinstance(value, list):
        return value
    entry: dict[str, Any] = {"uri": uri}
    if mime_type:
        entry["mimeType"] = mime_type
    if isinstance(value, (bytes, bytearray)):
        entry["blob"] = base64.b64encode(value).decode("ascii")
    else:
        entry["text"] = str(value)
    return [entry]


def text_result(text: str) -> dict:
    return {"content": [{"type": "text", "text": text}]}


def error_result(text: str) -> dict:
    return {"content": [{"type": "text", "text": text}], "isError": True}


__all__ = [
    "McpServer", "ToolContext", "ToolResult", "Stream", "ToolError", "Cancelled", "RpcError", "ResourceNotFound",
    "Resource", "ResourceTemplate", "Prompt", "LOG_LEVELS", "RESOURCE_NOT_FOUND",
    "text_result", "error_result", "log", "validate",
    "SUPPORTED_PROTOCOL_VERSIONS", "LATEST_PROTOCOL_VERSION",
    "PARSE_ERROR", "INVALID_REQUEST", "METHOD_NOT_FOUND", "INVALID_PARAMS", "INTERNAL_ERROR",
]
