#!/usr/bin/env python3
"""
Tabletop-RPG assistant: a demo MCP server for mcp-ipc (stdio transport, Python standard library only).

Tools
  search            {query, limit=5}             ranked TF-IDF keyword search over corpus.json (rules and monsters;
                                                 plurals, stop words and the game's name handled)
  process_document  {file_path, delay_ms=150}    analyses a file in documents/ in 10 steps with progress
  generate_large_result {size, chunk_size=65536} exactly `size` bytes of deterministic ASCII text;
                                                 streamed as notifications/stream/chunk with _meta.streamToken
  echo              {text}                       returns its text
  work              {rounds=100000, seed=""}     CPU-bound: rounds of SHA-256; returns {digest, rounds, pid}
  sleep             {seconds | ms}               sleeps (cancellable, with progress)

  add_note          {document, text}             adds a note to a document: notifications/resources/updated for
                                                 subscribers (the first note also adds demo://notes: list_changed)
  list_roots        {}                           the client's roots (roots/list), with what each local folder holds
  roll_character    {}                           asks the user for a name and class (elicitation, form mode)
  narrate           {scene, max_tokens=200}      asks the client's model to narrate a scene (sampling)

Resources (scheme demo://)
  demo://documents/NAME     the files in documents/ (text/markdown; notes added by add_note appended)
  demo://notes              every note added so far (listed once the first note exists)
  demo://images/dungeon-map.png   a small PNG map, drawn at start-up (image/png, base64 blob)
  demo://rules/{topic}      template: one rules entry of corpus.json by id (topic completes from the corpus)

Prompts
  explain_rule      {topic, style?}              explain a rule (the entry embedded as a resource); both complete
  summarize_document {document}                  summarize a document (embedded); document completes

Logging: process_document logs each step (debug) and its result (info) as notifications/message.
The server speaks the handshake ("legacy") era of MCP: initialize, then requests; it asks the client
for roots, sampling and elicitation only when the client declared them (else the tool says so).

Usage: python3 server.py [--verbose]     (--verbose: log cancellations and signals to stderr)
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import random
import re
import struct
import sys
import threading
import time
import zlib
from collections import Counter
from urllib.parse import unquote, urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from mcp_stdio import INVALID_PARAMS, McpServer, ResourceNotFound, RpcError, Stream, ToolError, ToolResult  # noqa: E402

CORPUS_PATH = os.path.join(HERE, "corpus.json")
DOCUMENTS_DIR = os.path.join(HERE, "documents")
MAX_GENERATE = 200_000_000

server = McpServer(
    "tabletop-assistant",
    "1.0.0",
    instructions="Rules search and document tools for a tabletop role-playing game.",
    verbose="--verbose" in sys.argv[1:],
)

# ---------------------------------------------------------------------------- search

WORD = re.compile(r"[a-z0-9]+")
STOP = {
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "for", "from", "has", "have", "if", "in",
    "into", "is", "it", "its", "no", "not", "of", "on", "or", "so", "than", "that", "the", "their", "them",
    "then", "this", "to", "too", "up", "was", "what", "when", "which", "while", "who", "with", "you", "your",
    "how", "does", "work", "works", "i", "my", "me", "about", "tell", "explain", "show", "find", "rule", "rules",
    # The whole corpus is about the game, so naming it narrows nothing ("dragons in D&D" means "dragons").
    "dnd", "5e", "rpg", "ttrpg", "game",
}
# Written names of the game, folded into one stop word before splitting into words ("D&D" would split into "d", "d").
GAME_NAMES = re.compile(r"\bdungeons\s*(?:&|and|n)\s*dragons\b|\bd\s*(?:&|and|n)\s*d\b")


def stem(word: str) -> str:
    """A small English plural / verb-ending stemmer: singular and plural meet (dragon(s), creature(s), enemies → enemy)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    # A final silent e goes too, so "grapple", "grappled" and "grappling" meet at "grappl".
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def terms(text: str) -> list[str]:
    text = GAME_NAMES.sub(" dnd ", text.lower())
    return [stem(w) for w in WORD.findall(text) if w not in STOP]


class Index:
    def __init__(self, entries: list[dict]):
        self.entries = entries
        self.docs: list[Counter] = []
        df: Counter = Counter()
        for e in entries:
            tf = Counter(terms(e["text"]))
            for t in terms(e["title"]):  # title and tags weigh more than body text
                tf[t] += 3
            for tag in e.get("tags", []):
                for t in terms(tag):
                    tf[t] += 2
            self.docs.append(tf)
            df.update(tf.keys())
        n = len(entries)
        self.idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}

    def search(self, query: str, limit: int) -> list[tuple[float, dict]]:
        q = list(dict.fromkeys(terms(query)))
        scored = []
        for entry, tf in zip(self.entries, self.docs):
            length = sum(tf.values()) or 1
            score = sum((1 + math.log(tf[t])) * self.idf.get(t, 0) for t in q if tf[t]) / math.sqrt(length) * 5
            if score > 0:
                scored.append((round(score, 4), entry))
        scored.sort(key=lambda pair: (-pair[0], pair[1]["id"]))
        return scored[:limit]


def snippet(text: str, query: str, width: int = 160) -> str:
    q = set(terms(query))
    sentences = re.split(r"(?<=[.!?])\s+", text)
    best = next((s for s in sentences if q & set(terms(s))), sentences[0])
    return best if len(best) <= width else best[: width - 1].rstrip() + "…"


with open(CORPUS_PATH, encoding="utf-8") as fh:
    INDEX = Index(json.load(fh))


@server.tool(
    "search",
    "Keyword search over the rules reference (TF-IDF ranking). Returns the best matching entries.",
    {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "description": "Words to look for, e.g. 'grappling' or 'death saves'"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5, "description": "Maximum number of results"},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    annotations={"title": "Search the rules", "readOnlyHint": True},
)
def search(args, ctx):
    query, limit = args["query"], args["limit"]
    hits = INDEX.search(query, limit)
    results = [
        {"id": e["id"], "title": e["title"], "score": score, "snippet": snippet(e["text"], query)} for score, e in hits
    ]
    if not results:
        text = f'No rules found for "{query}". Try a rule, condition or monster, e.g. "grappling", "death saves" or "dragon".'
    else:
        lines = [f'{len(results)} result(s) for "{query}":', ""]
        for i, r in enumerate(results, 1):
            lines.append(f"{i}. {r['title']} [{r['id']}] (score {r['score']:.2f})")
            lines.append(f"   {r['snippet']}")
        text = "\n".join(lines)
    return ToolResult(text, structured={"results": results})


# ---------------------------------------------------------------------------- process_document


def resolve_document(file_path: str) -> str:
    root = os.path.realpath(DOCUMENTS_DIR)
    path = os.path.realpath(os.path.join(root, file_path))  # an absolute file_path replaces root
    if os.path.commonpath([root, path]) != root:
        raise ToolError(f"Access denied: {file_path} is outside the documents directory")
    if not os.path.isfile(path):
        available = ", ".join(sorted(os.listdir(root)))
        raise ToolError(f"File not found: {file_path} (available: {available})")
    return path


@server.tool(
    "process_document",
    "Analyses a document from the documents directory in ten steps, reporting progress, and returns a summary.",
    {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "minLength": 1, "description": "Path relative to documents/ (or an absolute path inside it)"},
            "delay_ms": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 150, "description": "Pause per step, in ms"},
        },
        "required": ["file_path"],
        "additionalProperties": False,
    },
    annotations={"title": "Process a document", "readOnlyHint": True},
)
def process_document(args, ctx):
    path = resolve_document(args["file_path"])
    delay = args["delay_ms"] / 1000
    name = os.path.relpath(path, os.path.realpath(DOCUMENTS_DIR))
    facts: dict = {}

    def read():
        with open(path, encoding="utf-8", errors="replace") as fh:
            facts["text"] = fh.read()

    def count_lines():
        facts["lines"] = facts["text"].splitlines()

    def count_words():
        facts["words"] = WORD.findall(facts["text"].lower())

    def find_headings():
        facts["headings"] = [l.lstrip("#").strip() for l in facts["lines"] if re.match(r"#{1,6}\s", l)]

    def count_terms():
        facts["top"] = Counter(w for w in facts["words"] if w not in STOP and len(w) > 2).most_common(8)

    def find_lists():
        facts["bullets"] = sum(1 for l in facts["lines"] if re.match(r"\s*[-*+]\s", l))

    def find_checks():
        facts["checks"] = re.findall(r"\b([A-Z][a-z]+(?: saving throw| save| check)?) \(DC (\d+)\)", facts["text"])

    def measure():
        facts["blank"] = sum(1 for l in facts["lines"] if not l.strip())
        facts["longest"] = max((len(l) for l in facts["lines"]), default=0)

    def reading_time():
        facts["minutes"] = max(1, round(len(facts["words"]) / 200))

    def nothing():
        pass

    steps = [
        ("Reading file", read), ("Counting lines", count_lines), ("Counting words", count_words),
        ("Finding headings", find_headings), ("Counting terms", count_terms), ("Finding lists", find_lists),
        ("Finding checks", find_checks), ("Measuring lines", measure), ("Estimating reading time", reading_time),
        ("Writing summary", nothing),
    ]
    total = len(steps)
    for i, (label, step) in enumerate(steps, 1):
        ctx.check_cancelled()
        step()
        ctx.sleep(delay)
        ctx.progress(i, total, f"{label} ({i}/{total})")
        ctx.log("debug", f"{name}: {label.lower()} done ({i}/{total})")

    headings = facts["headings"]
    top = ", ".join(f"{w} ({n})" for w, n in facts["top"]) or "none"
    checks = ", ".join(f"{what} DC {dc}" for what, dc in facts["checks"]) or "none"
    text = "\n".join([
        f"Summary of {name}",
        f"- Lines: {len(facts['lines'])} ({facts['blank']} blank, longest {facts['longest']} characters)",
        f"- Words: {len(facts['words'])} (about {facts['minutes']} min to read)",
        f"- Headings ({len(headings)}): {'; '.join(headings) or 'none'}",
        f"- List items: {facts['bullets']}",
        f"- Checks mentioned: {checks}",
        f"- Top words: {top}",
    ])
    ctx.log("info", f"Processed {name}: {len(facts['words'])} words, {len(headings)} headings")
    structured = {
        "file": name,
        "lines": len(facts["lines"]),
        "words": len(facts["words"]),
        "headings": headings,
        "topWords": [{"word": w, "count": n} for w, n in facts["top"]],
    }
    return ToolResult(text, structured=structured)


# ---------------------------------------------------------------------------- generate_large_result

LINE_WIDTH = 64
_FILLER = ("the quick brown fox jumps over the lazy dog " * 2)[: LINE_WIDTH - 12]


GROUP_LINES = 10_000
GROUP_BYTES = GROUP_LINES * LINE_WIDTH
# One group of 10 000 lines with a placeholder for the 6 leading digits of the line number:
# str.replace fills it in at C speed (about 20x faster than formatting each line).
_GROUP_TEMPLATE = "".join(f"\x00{i:04d} {_FILLER}\n" for i in range(GROUP_LINES))


def generated_line(n: int) -> str:
    """Line n (0-based) of the endless text: exactly LINE_WIDTH ASCII bytes, newline included."""
    return f"{n:010d} {_FILLER}\n"


@functools.lru_cache(maxsize=4)
def generated_group(g: int) -> str:
    return _GROUP_TEMPLATE.replace("\x00", f"{g:06d}")


def generated_slice(offset: int, length: int) -> str:
    """Bytes [offset, offset + length) of the endless text."""
    parts, pos, end = [], offset, offset + length
    while pos < end:
        g, start = divmod(pos, GROUP_BYTES)
        take = min(GROUP_BYTES - start, end - pos)
        parts.append(generated_group(g)[start : start + take])
        pos += take
    return "".join(parts)


@server.tool(
    "generate_large_result",
    "Generates exactly `size` bytes of deterministic text (numbered 64-byte lines). Streams in chunks when the client asks for it.",
    {
        "type": "object",
        "properties": {
            "size": {"type": "integer", "minimum": 0, "maximum": MAX_GENERATE, "description": "Bytes of text to produce"},
            "chunk_size": {"type": "integer", "minimum": 1, "maximum": 16 * 1024 * 1024, "default": 65536, "description": "Bytes per stream chunk"},
        },
        "required": ["size"],
        "additionalProperties": False,
    },
    annotations={"title": "Generate a large result", "readOnlyHint": True},
    streaming=True,
)
def generate_large_result(args, ctx):
    size, chunk = args["size"], args["chunk_size"]
    if not ctx.streaming:
        chunk = max(chunk, 1 << 20)  # joined anyway: fewer, larger pieces

    def pieces():
        sent, last_report = 0, 0
        while sent < size:
            n = min(chunk, size - sent)
            yield generated_slice(sent, n)
            sent += n
            if sent - last_report >= size / 20 or sent == size:
                last_report = sent
                ctx.progress(sent, size, f"{sent} of {size} bytes")

    return Stream(pieces())


# ---------------------------------------------------------------------------- echo, sleep


@server.tool(
    "echo",
    "Returns its text unchanged.",
    {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"], "additionalProperties": False},
    annotations={"title": "Echo", "readOnlyHint": True, "idempotentHint": True},
)
def echo(args, ctx):
    return args["text"]


@server.tool(
    "work",
    "CPU-bound work: `rounds` rounds of SHA-256 over a 64-byte block (for load and pool benchmarks).",
    {
        "type": "object",
        "properties": {
            "rounds": {"type": "integer", "minimum": 0, "maximum": 100_000_000, "default": 100_000, "description": "Hash rounds"},
            "seed": {"type": "string", "default": "", "description": "Mixed into the first block"},
        },
        "additionalProperties": False,
    },
    annotations={"title": "Work", "readOnlyHint": True, "idempotentHint": True},
)
def work(args, ctx):
    rounds = args.get("rounds", 100_000)
    block = hashlib.sha256(str(args.get("seed", "")).encode()).digest() * 2
    for i in range(rounds):
        block = hashlib.sha256(block).digest() * 2
        if i & 0x3FFF == 0x3FFF:
            ctx.check_cancelled()
    # The pid tells which process (which replica of a pool) did the work.
    out = {"digest": block[:32].hex(), "rounds": rounds, "pid": os.getpid()}
    return ToolResult(json.dumps(out), out)


@server.tool(
    "sleep",
    "Sleeps for the given time (seconds, or ms), reporting progress; can be cancelled.",
    {
        "type": "object",
        "properties": {
            "seconds": {"type": "number", "minimum": 0, "maximum": 3600, "description": "How long to sleep, in seconds"},
            "ms": {"type": "integer", "minimum": 0, "maximum": 3600000, "description": "How long to sleep, in ms (wins over seconds)"},
        },
        "additionalProperties": False,
    },
    annotations={"title": "Sleep", "readOnlyHint": True},
)
def sleep(args, ctx):
    ms = args["ms"] if "ms" in args else round(args.get("seconds", 1) * 1000)
    deadline = time.monotonic() + ms / 1000
    step = 0.1 if ms <= 5000 else 0.25
    ticks = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ctx.sleep(min(step, left))
        ticks += 1
        if ticks % max(1, round(0.5 / step)) == 0 or time.monotonic() >= deadline:
            done = min(ms, round(ms - max(0.0, deadline - time.monotonic()) * 1000))
            ctx.progress(done, ms, f"slept {done} of {ms} ms")
    return f"slept {ms} ms"


# ---------------------------------------------------------------------------- resources

DOCUMENT_URI = "demo://documents/"
NOTES_URI = "demo://notes"
MAP_URI = "demo://images/dungeon-map.png"
RULES_BY_ID = {e["id"]: e for e in INDEX.entries}

# Notes added by add_note, per document name (in memory: the files on disk are never changed).
_notes: dict[str, list[str]] = {}
_notes_lock = threading.Lock()


def document_names() -> list[str]:
    return sorted(n for n in os.listdir(DOCUMENTS_DIR) if os.path.isfile(os.path.join(DOCUMENTS_DIR, n)))


def read_document(uri: str) -> str:
    name = uri[len(DOCUMENT_URI):]
    try:
        with open(resolve_document(name), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except (ToolError, OSError):  # removed since the server started
        raise ResourceNotFound(uri) from None
    with _notes_lock:
        notes = list(_notes.get(name, []))
    if notes:
        text = text.rstrip("\n") + "\n\n## Notes\n\n" + "".join(f"- {n}\n" for n in notes)
    return text


def register_documents() -> None:
    for name in document_names():
        server.resource(DOCUMENT_URI + name, name, f"The document {name} (with any notes added by add_note)",
                        "text/markdown", title=name)(read_document)


register_documents()


def read_notes(uri: str) -> str:
    with _notes_lock:
        notes = {doc: list(items) for doc, items in _notes.items()}
    lines = ["# Notes", ""]
    for doc, items in sorted(notes.items()):
        lines += [f"## {doc}", ""] + [f"- {n}" for n in items] + [""]
    return "\n".join(lines)


def rule_markdown(entry: dict) -> str:
    return f"# {entry['title']}\n\n{entry['text']}\n\nTags: {', '.join(entry.get('tags', []))}\n"


def complete_topic(_value: str, _context: dict) -> list[str]:
    return sorted(RULES_BY_ID)


@server.resource_template(
    "demo://rules/{topic}", "rule", "One entry of the rules reference, by id (e.g. demo://rules/grappling)",
    "text/markdown", title="Rules entry", complete={"topic": complete_topic},
)
def read_rule(uri: str, variables: dict) -> str:
    entry = RULES_BY_ID.get(variables["topic"])
    if entry is None:
        raise ResourceNotFound(uri)
    return rule_markdown(entry)


def png(width: int, height: int, pixel) -> bytes:
    """An RGB PNG (standard library only): pixel(x, y) → (r, g, b)."""
    rows = b"".join(b"\x00" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def dungeon_pixel(x: int, y: int) -> tuple[int, int, int]:
    """Three rooms joined by corridors on a stone background, with a grid every 8 pixels."""
    rooms = ((6, 6, 30, 22), (44, 10, 74, 34), (18, 40, 58, 58))
    corridors = ((28, 14, 46, 18), (56, 32, 60, 42), (22, 20, 26, 42))
    inside = any(x0 <= x < x1 and y0 <= y < y1 for x0, y0, x1, y1 in rooms + corridors)
    if not inside:
        return (58, 52, 48)
    if x % 8 == 0 or y % 8 == 0:
        return (196, 178, 140)
    return (232, 216, 176)


@server.resource(MAP_URI, "dungeon-map.png", "A small map of the adventure's dungeon", "image/png", title="Dungeon map")
def read_map(uri: str) -> bytes:
    return DUNGEON_MAP


DUNGEON_MAP = png(80, 64, dungeon_pixel)


@server.tool(
    "add_note",
    "Adds a note to a document. Subscribers of the document's resource (and of demo://notes) get notifications/resources/updated.",
    {
        "type": "object",
        "properties": {
            "document": {"type": "string", "minLength": 1, "description": "A document's name, e.g. adventure.md"},
            "text": {"type": "string", "minLength": 1, "maxLength": 2000, "description": "The note"},
        },
        "required": ["document", "text"],
        "additionalProperties": False,
    },
    annotations={"title": "Add a note", "readOnlyHint": False, "idempotentHint": False},
)
def add_note(args, ctx):
    name = args["document"]
    if name not in document_names():
        raise ToolError(f"No document {name} (available: {', '.join(document_names())})")
    with _notes_lock:
        first = not _notes
        _notes.setdefault(name, []).append(args["text"])
        count = len(_notes[name])
    if first:
        server.resource(NOTES_URI, "notes", "Every note added with add_note", "text/markdown", title="Notes")(read_notes)
        server.resources_changed()
    server.resource_updated(DOCUMENT_URI + name)
    server.resource_updated(NOTES_URI)
    return ToolResult(f"Added note {count} to {name}", structured={"uri": DOCUMENT_URI + name, "notes": count})


# ---------------------------------------------------------------------------- prompts

STYLES = {
    "brief": "in two or three sentences",
    "detailed": "in detail, with an example of play",
    "for-new-players": "simply, for someone at their first game session",
}


@server.prompt(
    "explain_rule", "Explain a rule of the game, with the rules entry attached",
    [
        {"name": "topic", "description": "A rules entry id, e.g. grappling", "required": True},
        {"name": "style", "description": f"One of {', '.join(STYLES)} (default brief)"},
    ],
    title="Explain a rule", complete={"topic": complete_topic, "style": list(STYLES)},
)
def explain_rule(args: dict) -> list[dict]:
    entry = RULES_BY_ID.get(args["topic"])
    if entry is None:
        raise RpcError(INVALID_PARAMS, f"Unknown topic {args['topic']!r} (complete the argument to see them)")
    style = args.get("style") or "brief"
    if style not in STYLES:
        raise RpcError(INVALID_PARAMS, f"style must be one of {', '.join(STYLES)}")
    uri = f"demo://rules/{entry['id']}"
    return [
        {"role": "user", "content": {"type": "text", "text": f"Explain the rule \"{entry['title']}\" {STYLES[style]}."}},
        {"role": "user", "content": {"type": "resource", "resource": {"uri": uri, "mimeType": "text/markdown", "text": rule_markdown(entry)}}},
    ]


@server.prompt(
    "summarize_document", "Summarize one of the documents (embedded as a resource)",
    [{"name": "document", "description": "A document's name, e.g. adventure.md", "required": True}],
    title="Summarize a document", complete={"document": lambda _value, _context: document_names()},
)
def summarize_document(args: dict) -> list[dict]:
    name = args["document"]
    if name not in document_names():
        raise RpcError(INVALID_PARAMS, f"No document {name!r} (available: {', '.join(document_names())})")
    uri = DOCUMENT_URI + name
    return [
        {"role": "user", "content": {"type": "text", "text": f"Summarize {name} for the players, without spoilers."}},
        {"role": "user", "content": {"type": "resource", "resource": {"uri": uri, "mimeType": "text/markdown", "text": read_document(uri)}}},
    ]


# ---------------------------------------------------------------------------- the client's features: roots, elicitation, sampling


def describe_root(root: dict) -> dict:
    """A root as reported by list_roots: a local folder (file://) also says how many files it holds."""
    out = {"uri": root["uri"], **({"name": root["name"]} if isinstance(root.get("name"), str) else {})}
    parsed = urlparse(root["uri"])
    if parsed.scheme == "file":
        path = unquote(parsed.path)
        out["exists"] = os.path.isdir(path)
        if out["exists"]:
            try:
                out["files"] = sum(1 for e in os.scandir(path) if e.is_file())
            except OSError:
                out["exists"] = False
    return out


@server.tool(
    "list_roots",
    "Lists the client's roots (asks the client with roots/list) and how many files each local folder holds.",
    {"type": "object", "properties": {}, "additionalProperties": False},
    annotations={"title": "List the client's roots", "readOnlyHint": True},
)
def list_roots(args, ctx):
    roots = [describe_root(r) for r in ctx.list_roots()]
    lines = [f"{len(roots)} root(s)"]
    for r in roots:
        where = f"{r['files']} file(s)" if "files" in r else ("missing" if r.get("exists") is False else "not a local folder")
        lines.append(f"- {r.get('name', r['uri'])}: {r['uri']} ({where})")
    return ToolResult("\n".join(lines), structured={"roots": roots})


CLASSES = ["fighter", "wizard", "rogue", "cleric", "ranger", "bard"]
ABILITIES = ["STR", "DEX", "CON", "INT", "WIS", "CHA"]


@server.tool(
    "roll_character",
    "Rolls a new character: asks the user for a name and a class (elicitation), then rolls 4d6-drop-lowest abilities.",
    {"type": "object", "properties": {}, "additionalProperties": False},
    annotations={"title": "Roll a character", "readOnlyHint": True},
)
def roll_character(args, ctx):
    answer = ctx.elicit("Who is your new character?", {
        "type": "object",
        "properties": {
            "name": {"type": "string", "title": "Name", "minLength": 1, "maxLength": 60},
            "class": {"type": "string", "title": "Class", "enum": CLASSES, "default": "fighter"},
        },
        "required": ["name"],
    })
    if answer["action"] != "accept":
        return f"No character rolled: the user {'declined' if answer['action'] == 'decline' else 'cancelled'}."
    name, cls = answer["content"]["name"], answer["content"].get("class", "fighter")
    dice = random.Random(f"{name}/{cls}")  # the same character always gets the same rolls
    scores = {a: sum(sorted(dice.randint(1, 6) for _ in range(4))[1:]) for a in ABILITIES}
    text = f"{name} the {cls}: " + ", ".join(f"{a} {v}" for a, v in scores.items())
    return ToolResult(text, structured={"name": name, "class": cls, "abilities": scores})


@server.tool(
    "narrate",
    "Asks the client's model to narrate a scene (sampling/createMessage) and returns its words.",
    {
        "type": "object",
        "properties": {
            "scene": {"type": "string", "minLength": 1, "maxLength": 2000, "description": "What happens"},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": 4000, "default": 200},
        },
        "required": ["scene"],
        "additionalProperties": False,
    },
    annotations={"title": "Narrate a scene", "readOnlyHint": True},
)
def narrate(args, ctx):
    reply = ctx.sample(
        f"Narrate this scene for the players in two vivid sentences: {args['scene']}", args["max_tokens"],
        systemPrompt="You are the game master of a tabletop role-playing game.",
        modelPreferences={"intelligencePriority": 0.3, "speedPriority": 0.7},
    )
    content = reply.get("content")
    blocks = content if isinstance(content, list) else [content]  # newer revisions allow several blocks
    text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
    if not text:
        raise ToolError("The client's model answered without text")
    return ToolResult(text, structured={"text": text, "model": reply.get("model")})


if __name__ == "__main__":
    server.run()
