#!/usr/bin/env python3
"""
Self-test for server.py: spawns it over stdio, does the MCP handshake and exercises every tool
(progress, streaming, cancellation, concurrency, errors, ping, stdin EOF → exit 0, SIGTERM).

Usage: python3 selftest.py [-v]        exit code 0 when everything passes, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import queue
import signal
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

    def initialize(self, version: str = "2025-06-18") -> dict:
        res = self.wait(self.request("initialize", {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "selftest", "version": "1"}}))
        self.notify("notifications/initialized")
        return res

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


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
    check(res["result"]["protocolVersion"] == "2025-06-18", "unsupported version → latest")


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
