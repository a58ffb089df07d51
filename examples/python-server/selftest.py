#!/usr/bin/env python3
"""
Self-test for server.py: spawns it over stdio, does the MCP handshake and exercises every tool
(progress, streaming, cancellation, concurrency, errors, ping, stdin EOF → exit 0, SIGTERM) and the
rest of the surface: resources, templates, subscriptions, prompts, completion, logging, and the
server's requests to the client (roots, elicitation, sampling), answered by the test as a client.

Usage: python3 selftest.py [-v]        exit code 0 when everything passes, 1 otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
DOCS = os.path.join(HERE, "documents")
VERBOSE = "-v" in sys.argv[1:]


class Client:
    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 1
        self.stderr: list[bytes] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()
        self.backlog: list[dict] = []
        # Answers to the server's own requests (roots/list, sampling, elicitation): method → fn(params)
        # returning a result, or raising ClientRefusal for an error response. Every request is kept.
        self.answers: dict = {}
        self.server_requests: list[dict] = []

    def _read(self):
        for line in self.proc.stdout:
            msg = json.loads(line)  # every stdout line must be JSON
            self.messages.put(msg)
        self.messages.put(None)

    def send(self, msg: dict) -> None:
        with self.lock:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()

    def request(self, method: str, params: dict | None = None) -> int:
        rid = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return rid

    def notify(self, method: str, params: dict | None = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, **({"params": params} if params is not None else {})})

    def next_message(self, timeout: float) -> dict | None:
        if self.backlog:
            return self.backlog.pop(0)
        try:
            msg = self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("timed out waiting for a message")
        if msg is None:
            raise AssertionError("server closed stdout")
        if VERBOSE:
            print("  <-", json.dumps(msg)[:200])
        return msg

    def wait(self, rid, timeout: float = 10, notes: list | None = None) -> dict:
        """Waits for the response to rid, collecting notifications in `notes`; other responses are kept."""
        deadline = time.monotonic() + timeout
        kept = []
        try:
            while True:
                msg = self.next_message(max(0.01, deadline - time.monotonic()))
                if "id" in msg and "method" not in msg and msg["id"] == rid:
                    return msg
                if "id" in msg and "method" in msg and msg["method"] in self.answers:
                    self.server_requests.append(msg)
                    self.answer(msg)
                    continue
                if "method" in msg and notes is not None:
                    notes.append(msg)
                else:
                    kept.append(msg)
        finally:
            self.backlog = kept + self.backlog

    def call(self, name: str, arguments: dict, meta: dict | None = None, notes: list | None = None, timeout: float = 30) -> dict:
        params = {"name": name, "arguments": arguments}
        if meta:
            params["_meta"] = meta
        return self.wait(self.request("tools/call", params), timeout, notes)

    def answer(self, msg: dict) -> None:
        try:
            self.send({"jsonrpc": "2.0", "id": msg["id"], "result": self.answers[msg["method"]](msg.get("params", {}))})
        except ClientRefusal as exc:
            self.send({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": exc.code, "message": str(exc)}})

    def initialize(self, version: str = "2025-06-18", capabilities: dict | None = None) -> dict:
        params = {"protocolVersion": version, "capabilities": capabilities or {}, "clientInfo": {"name": "selftest", "version": "1"}}
        res = self.wait(self.request("initialize", params))
        self.notify("notifications/initialized")
        return res

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class ClientRefusal(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


FAILURES: list[str] = []


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def test(fn):
    name = fn.__name__
    started = time.monotonic()
    try:
        fn()
        print(f"ok   {name} ({(time.monotonic() - started) * 1000:.0f} ms)")
    except Exception as exc:  # noqa: BLE001
        FAILURES.append(name)
        print(f"FAIL {name}: {type(exc).__name__}: {exc}")
    return fn


def text_of(res: dict) -> str:
    return res["result"]["content"][0]["text"]


# ---------------------------------------------------------------------------- tests

C: Client


@test
def t_handshake():
    global C
    C = Client()
    res = C.initialize("2024-11-05")["result"]
    check(res["protocolVersion"] == "2024-11-05", f"echoes a supported version: {res}")
    check(res["capabilities"]["tools"]["listChanged"] is True, "tools capability")
    check(res["serverInfo"]["name"] == "tabletop-assistant", "serverInfo")
    res = C.wait(C.request("initialize", {"protocolVersion": "1999-01-01", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}))
    check(res["result"]["protocolVersion"] == "2025-11-25", "unsupported version → latest")


@test
def t_ping_and_list():
    check(C.wait(C.request("ping"))["result"] == {}, "ping → {}")
    tools = {t["name"]: t for t in C.wait(C.request("tools/list"))["result"]["tools"]}
    check(set(tools) >= {"search", "process_document", "generate_large_result", "echo", "sleep"}, f"tools: {list(tools)}")
    for t in tools.values():
        check(t["inputSchema"]["type"] == "object" and t["description"], f"schema of {t['name']}")
    check(tools["search"]["annotations"]["readOnlyHint"] is True, "search annotations")
    check(tools["echo"]["annotations"]["idempotentHint"] is True, "echo annotations")


@test
def t_protocol_errors():
    C.proc.stdin.write(b"{not json\n")
    C.proc.stdin.flush()
    msg = C.next_message(5)
    check(msg.get("id", "missing") is None and msg["error"]["code"] == -32700, f"parse error: {msg}")
    check(C.wait(C.request("no/such/method"))["error"]["code"] == -32601, "unknown method → -32601")
    check(C.call("search", {"query": 42})["error"]["code"] == -32602, "bad argument type → -32602")
    check(C.call("search", {"query": "x", "limit": 51})["error"]["code"] == -32602, "limit > 50 → -32602")
    check(C.call("search", {})["error"]["code"] == -32602, "missing query → -32602")
    res = C.call("no_such_tool", {})["result"]
    check(res["isError"] is True and "no_such_tool" in res["content"][0]["text"], "unknown tool → isError")
    C.notify("notifications/something_unknown", {})
    check(C.wait(C.request("ping"))["result"] == {}, "unknown notification ignored")


@test
def t_search():
    res = C.call("search", {"query": "grappling"})["result"]
    results = res["structuredContent"]["results"]
    check(results and results[0]["id"] == "grappling", f"grappling first: {results[:2]}")
    check("Grappling" in res["content"][0]["text"], "readable text")
    check(all(set(r) == {"id", "title", "score", "snippet"} for r in results), "result shape")
    check(len(results) <= 5, "default limit 5")
    res = C.call("search", {"query": "death saving throws", "limit": 2})["result"]
    check(res["structuredContent"]["results"][0]["id"] == "death-saves", f"death saves: {res['structuredContent']}")
    check(len(res["structuredContent"]["results"]) == 2, "limit respected")
    scores = [r["score"] for r in C.call("search", {"query": "advantage", "limit": 50})["result"]["structuredContent"]["results"]]
    check(scores == sorted(scores, reverse=True), "ranked")
    res = C.call("search", {"query": "xylophone"})["result"]
    check(res["structuredContent"]["results"] == [] and not res.get("isError"), "no hits is not an error")


@test
def t_search_first_queries():
    # What a newcomer types first: singular or plural, with stop words and the game's name around it.
    for query in ("dragon", "dragons", "dragons in D&D", "Tell me about dragons in Dungeons & Dragons"):
        results = C.call("search", {"query": query})["result"]["structuredContent"]["results"]
        check(results and results[0]["id"] == "dragons", f"{query!r} → dragons first: {results[:2]}")
    ids = [r["id"] for r in C.call("search", {"query": "dragon breath"})["result"]["structuredContent"]["results"]]
    check(ids[:1] == ["breath-weapon"], f"dragon breath → breath-weapon first: {ids}")
    for query in ("grappled", "grapples", "grappling"):
        results = C.call("search", {"query": query})["result"]["structuredContent"]["results"]
        check(results and results[0]["id"] == "grappling", f"{query!r} → grappling (one stem for every form)")
    res = C.call("search", {"query": "D&D"})["result"]
    check(res["structuredContent"]["results"] == [] and "e.g." in res["content"][0]["text"], "nothing but the game's name → suggestions")


@test
def t_process_document_progress():
    notes: list = []
    res = C.call("process_document", {"file_path": "adventure.md", "delay_ms": 10}, {"progressToken": "doc-1"}, notes)
    text = text_of(res)
    check("Summary" in text and "Headings" in text and "Lantern" in text, text)
    progress = [n["params"] for n in notes if n["method"] == "notifications/progress"]
    check([p["progress"] for p in progress] == list(range(1, 11)), f"progress 1..10: {progress}")
    check(all(p["progressToken"] == "doc-1" and p["total"] == 10 and p["message"] for p in progress), "progress fields")
    res = C.call("process_document", {"file_path": os.path.join(DOCS, "house-rules.md"), "delay_ms": 0})
    check("Summary of house-rules.md" in text_of(res), "absolute path inside documents/")
    check(res["result"]["structuredContent"]["lines"] > 10, "structured summary")


@test
def t_process_document_errors():
    for bad in ("../server.py", "/etc/passwd", "missing.md", "../documents/../corpus.json"):
        res = C.call("process_document", {"file_path": bad, "delay_ms": 0})["result"]
        check(res.get("isError") is True, f"{bad} → isError: {res}")


@test
def t_generate_whole():
    text = text_of(C.call("generate_large_result", {"size": 100_001}))
    check(len(text) == 100_001 and text.isascii(), f"size {len(text)}")
    check(text.startswith("0000000000 ") and text[64:75] == "0000000001 ", "numbered lines")
    check(text_of(C.call("generate_large_result", {"size": 0})) == "", "size 0")
    check(C.call("generate_large_result", {"size": 200_000_001})["error"]["code"] == -32602, "max size")


@test
def t_generate_streamed():
    size = 1_000_003
    notes: list = []
    res = C.call("generate_large_result", {"size": size, "chunk_size": 65536}, {"streamToken": "s-1"}, notes)
    chunks = [n["params"] for n in notes if n["method"] == "notifications/stream/chunk"]
    check([c["seq"] for c in chunks] == list(range(len(chunks))), "seq 0, 1, 2, …")
    check(all(c["streamToken"] == "s-1" for c in chunks), "stream token")
    data = "".join(c["data"] for c in chunks)
    check(len(data) == size, f"streamed {len(data)} bytes")
    check(all(len(c["data"]) == 65536 for c in chunks[:-1]), "chunk size")
    check(res["result"] == {"content": [], "_meta": {"streamed": {"chunks": len(chunks), "bytes": size}}}, f"final result {res['result']}")
    whole = text_of(C.call("generate_large_result", {"size": size}))
    check(whole == data, "streamed text == whole text")
    notes = []
    C.call("generate_large_result", {"size": 5000, "chunk_size": 1000}, {"streamToken": 7, "progressToken": 8}, notes)
    check(sum(n["method"] == "notifications/stream/chunk" for n in notes) == 5, "5 chunks")
    check(any(n["method"] == "notifications/progress" and n["params"]["progress"] == 5000 for n in notes), "progress while streaming")


@test
def t_echo():
    check(text_of(C.call("echo", {"text": "héllo ✓ 🐉\nline 2"})) == "héllo ✓ 🐉\nline 2", "echo unicode")


@test
def t_work():
    import hashlib
    block = hashlib.sha256(b"s").digest() * 2
    for _ in range(3):
        block = hashlib.sha256(block).digest() * 2
    res = C.call("work", {"rounds": 3, "seed": "s"})
    sc = res.get("result", {}).get("structuredContent") or {}
    check(sc.get("digest") == block[:32].hex() and sc.get("rounds") == 3, f"work digest: {sc}")
    check(isinstance(sc.get("pid"), int) and sc["pid"] > 0, "work names its pid")


@test
def t_sleep_and_concurrency():
    notes: list = []
    started = time.monotonic()
    a = C.request("tools/call", {"name": "sleep", "arguments": {"ms": 600}, "_meta": {"progressToken": "z"}})
    b = C.request("tools/call", {"name": "sleep", "arguments": {"seconds": 0.6}})
    check(C.wait(C.request("ping"), 0.5)["result"] == {}, "ping answered while tools run")
    check(text_of(C.wait(a, 5, notes)) == "slept 600 ms", "sleep ms")
    check(text_of(C.wait(b, 5, notes)) == "slept 600 ms", "sleep seconds")
    check(time.monotonic() - started < 1.1, "two sleeps ran concurrently")
    check(any(n["method"] == "notifications/progress" and n["params"]["progressToken"] == "z" for n in notes), "sleep progress")


@test
def t_cancel():
    rid = C.request("tools/call", {"name": "sleep", "arguments": {"seconds": 10}})
    doc = C.request("tools/call", {"name": "process_document", "arguments": {"file_path": "adventure.md", "delay_ms": 1000}, "_meta": {"progressToken": "c"}})
    time.sleep(0.3)
    C.notify("notifications/cancelled", {"requestId": rid, "reason": "user"})
    C.notify("notifications/cancelled", {"requestId": doc, "reason": "user"})
    C.notify("notifications/cancelled", {"requestId": 123456, "reason": "unknown id is ignored"})
    # Nothing arrives for the cancelled calls: the next response is the ping's, then silence.
    notes: list = []
    C.wait(C.request("ping"), 2, notes)
    time.sleep(1.5)
    check(not C.backlog, f"no response for cancelled calls: {C.backlog}")
    try:
        extra = C.next_message(0.2)
        raise AssertionError(f"unexpected message after cancel: {extra}")
    except AssertionError as exc:
        if "timed out" not in str(exc):
            raise
    check(text_of(C.call("echo", {"text": "still alive"})) == "still alive", "server alive after cancel")


@test
def t_capabilities():
    caps = C.wait(C.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}))["result"]["capabilities"]
    check(caps["resources"] == {"subscribe": True, "listChanged": True}, f"resources capability: {caps}")
    check(caps["prompts"] == {"listChanged": True} and caps["completions"] == {} and caps["logging"] == {}, f"capabilities: {caps}")


def error_code(res: dict) -> int | None:
    return res.get("error", {}).get("code")


@test
def t_resources():
    resources = {r["uri"]: r for r in C.wait(C.request("resources/list"))["result"]["resources"]}
    check(set(resources) == {"demo://documents/adventure.md", "demo://documents/house-rules.md", "demo://images/dungeon-map.png"}, f"resources: {list(resources)}")
    check(resources["demo://documents/adventure.md"]["mimeType"] == "text/markdown", "document mime type")
    templates = C.wait(C.request("resources/templates/list"))["result"]["resourceTemplates"]
    check([t["uriTemplate"] for t in templates] == ["demo://rules/{topic}"], f"templates: {templates}")
    [doc] = C.wait(C.request("resources/read", {"uri": "demo://documents/adventure.md"}))["result"]["contents"]
    with open(os.path.join(DOCS, "adventure.md"), encoding="utf-8") as fh:
        check(doc == {"uri": "demo://documents/adventure.md", "mimeType": "text/markdown", "text": fh.read()}, "document text as on disk")
    [image] = C.wait(C.request("resources/read", {"uri": "demo://images/dungeon-map.png"}))["result"]["contents"]
    png = base64.b64decode(image["blob"])
    check(image["mimeType"] == "image/png" and "text" not in image, "image as a blob")
    check(png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (80, 64), "a valid 80x64 PNG")
    [rule] = C.wait(C.request("resources/read", {"uri": "demo://rules/grappling"}))["result"]["contents"]
    check(rule["uri"] == "demo://rules/grappling" and rule["text"].startswith("# Grappling\n"), f"rule via the template: {rule}")
    check("Grappling" in C.wait(C.request("resources/read", {"uri": "demo://rules/gr%61ppling"}))["result"]["contents"][0]["text"], "variables URL-decoded")
    for uri in ("demo://rules/no-such-rule", "demo://documents/missing.md", "file:///etc/passwd", "demo://rules/a/b"):
        res = C.wait(C.request("resources/read", {"uri": uri}))
        check(error_code(res) == -32002 and res["error"]["data"] == {"uri": uri}, f"{uri} → -32002: {res}")
    check(error_code(C.wait(C.request("resources/read", {}))) == -32602, "read without uri → -32602")


@test
def t_subscriptions():
    doc = "demo://documents/adventure.md"
    check(C.wait(C.request("resources/subscribe", {"uri": doc}))["result"] == {}, "subscribe")
    notes: list = []
    res = C.call("add_note", {"document": "adventure.md", "text": "The lantern is cursed."}, notes=notes)
    check(res["result"]["structuredContent"] == {"uri": doc, "notes": 1}, f"add_note: {res}")
    methods = [(n["method"], n.get("params", {}).get("uri")) for n in notes]
    check(("notifications/resources/updated", doc) in methods, f"updated before the response: {methods}")
    check(("notifications/resources/list_changed", None) in methods, "first note → list_changed")
    check(("notifications/resources/updated", "demo://notes") not in methods, "no update for a resource nobody subscribed to")
    uris = [r["uri"] for r in C.wait(C.request("resources/list"))["result"]["resources"]]
    check("demo://notes" in uris, f"demo://notes listed: {uris}")
    text = C.wait(C.request("resources/read", {"uri": doc}))["result"]["contents"][0]["text"]
    check(text.endswith("## Notes\n\n- The lantern is cursed.\n"), "the note in the document")
    check("- The lantern is cursed." in C.wait(C.request("resources/read", {"uri": "demo://notes"}))["result"]["contents"][0]["text"], "demo://notes")
    check(C.wait(C.request("resources/unsubscribe", {"uri": doc}))["result"] == {}, "unsubscribe")
    notes = []
    C.call("add_note", {"document": "adventure.md", "text": "Second."}, notes=notes)
    check(not [n for n in notes if n["method"].startswith("notifications/resources/")], f"no updates after unsubscribe, no second list_changed: {notes}")
    res = C.call("add_note", {"document": "nothing.md", "text": "x"})["result"]
    check(res.get("isError") is True and "adventure.md" in res["content"][0]["text"], "unknown document → isError naming the documents")


@test
def t_prompts():
    prompts = {p["name"]: p for p in C.wait(C.request("prompts/list"))["result"]["prompts"]}
    check(set(prompts) == {"explain_rule", "summarize_document"}, f"prompts: {list(prompts)}")
    check(prompts["explain_rule"]["arguments"][0] == {"name": "topic", "description": "A rules entry id, e.g. grappling", "required": True}, "arguments")
    res = C.wait(C.request("prompts/get", {"name": "explain_rule", "arguments": {"topic": "grappling"}}))["result"]
    text, embedded = res["messages"]
    check(text["role"] == "user" and "in two or three sentences" in text["content"]["text"], f"default style brief: {text}")
    check(embedded["content"]["type"] == "resource" and embedded["content"]["resource"]["uri"] == "demo://rules/grappling", "rule embedded")
    res = C.wait(C.request("prompts/get", {"name": "explain_rule", "arguments": {"topic": "grappling", "style": "for-new-players"}}))["result"]
    check("first game session" in res["messages"][0]["content"]["text"], "style")
    res = C.wait(C.request("prompts/get", {"name": "summarize_document", "arguments": {"document": "house-rules.md"}}))["result"]
    check(res["messages"][1]["content"]["resource"]["uri"] == "demo://documents/house-rules.md", "document embedded")
    for params in (
        {"name": "explain_rule", "arguments": {}},
        {"name": "explain_rule", "arguments": {"topic": "nope"}},
        {"name": "explain_rule", "arguments": {"topic": "grappling", "style": "loud"}},
        {"name": "explain_rule", "arguments": {"topic": 3}},
        {"name": "no_such_prompt"},
    ):
        check(error_code(C.wait(C.request("prompts/get", params))) == -32602, f"{params} → -32602")


def completions(ref: dict, name: str, value: str, context: dict | None = None) -> dict:
    params = {"ref": ref, "argument": {"name": name, "value": value}, **({"context": {"arguments": context}} if context else {})}
    return C.wait(C.request("completion/complete", params))["result"]["completion"]


@test
def t_completion():
    explain = {"type": "ref/prompt", "name": "explain_rule"}
    check(completions(explain, "topic", "gr")["values"] == ["grappling"], "prompt argument")
    check(completions(explain, "topic", "GR")["values"] == ["grappling"], "case-insensitive")
    check(completions(explain, "style", "")["values"] == ["brief", "detailed", "for-new-players"], "fixed list")
    everything = completions(explain, "topic", "")
    with open(os.path.join(HERE, "corpus.json"), encoding="utf-8") as fh:
        ids = sorted(e["id"] for e in json.load(fh))
    check(everything == {"values": ids, "total": len(ids), "hasMore": False}, f"all topics: {everything}")
    rules = {"type": "ref/resource", "uri": "demo://rules/{topic}"}
    check(completions(rules, "topic", "drag")["values"] == ["dragons"], "template variable")
    check(completions({"type": "ref/prompt", "name": "summarize_document"}, "document", "a")["values"] == ["adventure.md"], "documents")
    check(completions(explain, "nothing", "x") == {"values": [], "total": 0, "hasMore": False}, "an argument without completions")
    for ref in ({"type": "ref/prompt", "name": "nope"}, {"type": "ref/resource", "uri": "demo://other/{x}"}, {"type": "ref/other"}):
        res = C.wait(C.request("completion/complete", {"ref": ref, "argument": {"name": "x", "value": ""}}))
        check(error_code(res) == -32602, f"{ref} → -32602")


@test
def t_logging():
    def logs_of_process_document() -> list[dict]:
        notes: list = []
        C.call("process_document", {"file_path": "house-rules.md", "delay_ms": 0}, notes=notes)
        return [n["params"] for n in notes if n["method"] == "notifications/message"]

    logs = logs_of_process_document()
    check([m["level"] for m in logs] == ["info"], f"default level info: {logs}")
    check(logs[0]["logger"] == "process_document" and logs[0]["data"].startswith("Processed house-rules.md"), f"log: {logs[0]}")
    check(C.wait(C.request("logging/setLevel", {"level": "debug"}))["result"] == {}, "setLevel")
    logs = logs_of_process_document()
    check([m["level"] for m in logs] == ["debug"] * 10 + ["info"], f"debug: {[m['level'] for m in logs]}")
    C.wait(C.request("logging/setLevel", {"level": "warning"}))
    check(logs_of_process_document() == [], "warning: nothing")
    check(error_code(C.wait(C.request("logging/setLevel", {"level": "loud"}))) == -32602, "unknown level → -32602")
    C.wait(C.request("logging/setLevel", {"level": "info"}))


@test
def t_client_features_not_declared():
    # C declared no client capabilities: the tools say so instead of asking.
    for tool, capability in (("list_roots", "roots"), ("roll_character", "elicitation"), ("narrate", "sampling")):
        res = C.call(tool, {"scene": "x"} if tool == "narrate" else {})["result"]
        check(res.get("isError") is True and f"'{capability}' capability" in res["content"][0]["text"], f"{tool}: {res}")


@test
def t_client_features():
    c = Client()
    try:
        roots = [{"uri": "file://" + DOCS, "name": "documents"}]
        c.answers = {
            "roots/list": lambda params: {"roots": roots},
            "sampling/createMessage": lambda params: {
                "role": "assistant", "model": "stand-in",
                "content": {"type": "text", "text": "Torchlight shivers. " + params["messages"][-1]["content"]["text"][-11:]},
            },
            "elicitation/create": lambda params: {"action": "accept", "content": {"name": "Ada", "class": "wizard"}},
        }
        c.initialize("2025-11-25", {"roots": {"listChanged": True}, "sampling": {}, "elicitation": {}})
        res = c.call("list_roots", {})["result"]
        check(res["structuredContent"]["roots"] == [{"uri": "file://" + DOCS, "name": "documents", "exists": True, "files": 2}], f"roots: {res}")
        c.call("list_roots", {})
        check([r["method"] for r in c.server_requests] == ["roots/list"], "roots cached")
        roots = [{"uri": "file:///no/such/folder"}, {"uri": "https://example.com/x"}]
        c.notify("notifications/roots/list_changed")
        text = text_of(c.call("list_roots", {}))
        check("file:///no/such/folder (missing)" in text and "(not a local folder)" in text, f"asked again after list_changed: {text}")
        check(len(c.server_requests) == 2, "asked once more")

        res = c.call("roll_character", {})["result"]
        ask = c.server_requests[-1]["params"]
        check(ask["mode"] == "form" and ask["requestedSchema"]["required"] == ["name"], f"form mode with a schema: {ask}")
        check(res["structuredContent"]["name"] == "Ada" and res["structuredContent"]["class"] == "wizard", f"character: {res}")
        check(all(3 <= v <= 18 for v in res["structuredContent"]["abilities"].values()), "abilities 3..18")
        check(c.call("roll_character", {})["result"] == res, "the same name and class roll the same")
        c.answers["elicitation/create"] = lambda params: {"action": "decline"}
        res = c.call("roll_character", {})["result"]
        check(not res.get("isError") and "declined" in res["content"][0]["text"], f"declined is not an error: {res}")
        c.answers["elicitation/create"] = lambda params: {"action": "accept", "content": {"name": "Bo", "class": "pirate"}}
        res = c.call("roll_character", {})["result"]
        check(res.get("isError") is True and "does not match the form" in res["content"][0]["text"], f"answer outside the schema: {res}")

        res = c.call("narrate", {"scene": "the crypt opens"})["result"]
        check(res["content"][0]["text"] == "Torchlight shivers. crypt opens" and res["structuredContent"]["model"] == "stand-in", f"narrate: {res}")
        ask = c.server_requests[-1]["params"]
        check(ask["maxTokens"] == 200 and "game master" in ask["systemPrompt"], f"sampling request: {ask}")

        def refuse(params):
            raise ClientRefusal(-1, "User rejected sampling request")

        c.answers["sampling/createMessage"] = refuse
        res = c.call("narrate", {"scene": "x"})["result"]
        check(res.get("isError") is True and "User rejected" in res["content"][0]["text"], f"client error → isError: {res}")

        # Cancelling a call that waits for the user withdraws the question, and nothing answers the call.
        del c.answers["elicitation/create"]
        rid = c.request("tools/call", {"name": "roll_character", "arguments": {}})
        asked = c.next_message(5)
        check(asked.get("method") == "elicitation/create", f"asked: {asked}")
        c.notify("notifications/cancelled", {"requestId": rid, "reason": "user"})
        withdrawn = c.next_message(5)
        check(withdrawn == {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": asked["id"], "reason": "the tool call ended"}}, f"withdrawn: {withdrawn}")
        c.send({"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "accept", "content": {"name": "Late"}}})  # too late: ignored
        check(c.wait(c.request("ping"), 2)["result"] == {} and not c.backlog, "no response to the cancelled call")
    finally:
        c.close()


@test
def t_stdin_eof_exits_zero():
    C.request("tools/call", {"name": "sleep", "arguments": {"seconds": 30}})
    time.sleep(0.1)
    started = time.monotonic()
    C.proc.stdin.close()
    code = C.proc.wait(5)
    check(code == 0, f"exit code {code}")
    check(time.monotonic() - started < 2, "prompt exit on EOF while a tool runs")
    check(b"".join(C.stderr) == b"", f"quiet stderr: {b''.join(C.stderr)[:300]!r}")


@test
def t_sigterm():
    c = Client()
    try:
        c.initialize()
        c.request("tools/call", {"name": "sleep", "arguments": {"seconds": 30}})
        time.sleep(0.2)
        started = time.monotonic()
        c.proc.send_signal(signal.SIGTERM)
        code = c.proc.wait(5)
        check(time.monotonic() - started < 2, "prompt exit on SIGTERM")
        check(code == 0, f"exit code {code}")
    finally:
        c.close()


if __name__ == "__main__":
    try:
        C.close()
    except NameError:
        pass
    if FAILURES:
        print(f"\n{len(FAILURES)} failed: {', '.join(FAILURES)}")
        sys.exit(1)
    print("\nall passed")
