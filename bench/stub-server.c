/*
 * The bench's instant MCP server: newline-delimited JSON-RPC 2.0 on stdin/stdout, answering as
 * fast as a process can, so that what the bench measures is the host's cost, not the server's.
 * Compiled at bench time (bench/servers.ts) when a C compiler exists; never committed as a binary.
 *
 *   initialize              -> the client's protocolVersion when it is a known legacy revision
 *   ping                    -> {}
 *   tools/list              -> echo {text}, blob {bytes}, hang {}
 *   tools/call echo {text}  -> {"content":[{"type":"text","text":<the request's text, verbatim>}]}
 *   tools/call blob {bytes} -> a text content of that many 'x' (built once per size, then cached)
 *   tools/call hang         -> never answers (memory probes keep requests pending with it)
 *   other requests          -> -32601; notifications are ignored
 *
 * Answers to everything read in one read(2) go out in one write(2). The parser only walks the
 * top-level members of the objects it needs (message, params, arguments); values it does not need
 * are skipped by a bracket/string-aware scanner, so key order and nesting do not matter. It is a
 * benchmark stub: it trusts its input to be well-formed JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

static char *out;
static size_t out_len, out_cap;

static void out_reserve(size_t n) {
    if (out_len + n <= out_cap) return;
    size_t cap = out_cap ? out_cap : 1 << 16;
    while (cap < out_len + n) cap *= 2;
    out = realloc(out, cap);
    if (!out) exit(3);
    out_cap = cap;
}

static void put(const char *s, size_t n) {
    out_reserve(n);
    memcpy(out + out_len, s, n);
    out_len += n;
}

static void puts_(const char *s) { put(s, strlen(s)); }

static void flush_out(void) {
    size_t at = 0;
    while (at < out_len) {
        ssize_t n = write(1, out + at, out_len - at);
        if (n < 0) {
            if (errno == EINTR) continue;
            exit(0); /* the client went away */
        }
        at += (size_t)n;
    }
    out_len = 0;
}

static const char *ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

/* End of the JSON value starting at p (p must point at its first character). */
static const char *skip_value(const char *p, const char *end) {
    if (p >= end) return end;
    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\') p++;
            else if (*p == '"') return p + 1;
        }
        return end;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < end; p++) {
            if (*p == '"') {
                p = skip_value(p, end) - 1;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\r' && *p != '\n') p++;
    return p;
}

/* Finds `key` among the top-level members of the object at obj; sets [*v, *v_end) to its value. */
static int member(const char *obj, const char *end, const char *key, const char **v, const char **v_end) {
    size_t klen = strlen(key);
    const char *p = ws(obj, end);
    if (p >= end || *p != '{') return 0;
    p++;
    for (;;) {
        p = ws(p, end);
        if (p >= end || *p != '"') return 0;
        const char *k = p + 1;
        const char *k_end = skip_value(p, end) - 1;
        p = ws(k_end + 1, end);
        if (p >= end || *p != ':') return 0;
        p = ws(p + 1, end);
        const char *val_end = skip_value(p, end);
        if ((size_t)(k_end - k) == klen && memcmp(k, key, klen) == 0) {
            *v = p;
            *v_end = val_end;
            return 1;
        }
        p = ws(val_end, end);
        if (p >= end || *p != ',') return 0;
        p++;
    }
}

static int string_is(const char *v, const char *v_end, const char *s) {
    size_t n = strlen(s);
    return v_end - v == (long)n + 2 && v[0] == '"' && memcmp(v + 1, s, n) == 0;
}

static void head(const char *id, const char *id_end) {
    puts_("{\"jsonrpc\":\"2.0\",\"id\":");
    put(id, (size_t)(id_end - id));
    puts_(",\"result\":");
}

/* ------------------------------------------------------------------ blobs, built once per size */

struct blob { long bytes; char *json; size_t len; };
static struct blob blobs[16];
static int nblobs;

static const struct blob *blob(long bytes) {
    for (int i = 0; i < nblobs; i++) if (blobs[i].bytes == bytes) return &blobs[i];
    if (nblobs == 16) { free(blobs[0].json); memmove(blobs, blobs + 1, sizeof blobs[0] * 15); nblobs = 15; }
    static const char pre[] = "{\"content\":[{\"type\":\"text\",\"text\":\"";
    static const char post[] = "\"}]}";
    size_t len = sizeof pre - 1 + (size_t)bytes + sizeof post - 1;
    char *json = malloc(len);
    if (!json) exit(3);
    memcpy(json, pre, sizeof pre - 1);
    memset(json + sizeof pre - 1, 'x', (size_t)bytes);
    memcpy(json + sizeof pre - 1 + bytes, post, sizeof post - 1);
    blobs[nblobs] = (struct blob){ bytes, json, len };
    return &blobs[nblobs++];
}

/* ------------------------------------------------------------------ dispatch */

static const char TOOLS[] =
    "{\"tools\":["
    "{\"name\":\"echo\",\"description\":\"Returns its text\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},\"required\":[\"text\"]},\"annotations\":{\"readOnlyHint\":true}},"
    "{\"name\":\"blob\",\"description\":\"Returns a text of the given size in bytes\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"bytes\":{\"type\":\"integer\",\"minimum\":0}},\"required\":[\"bytes\"]},\"annotations\":{\"readOnlyHint\":true}},"
    "{\"name\":\"hang\",\"description\":\"Never answers\",\"inputSchema\":{\"type\":\"object\",\"properties\":{}}}"
    "]}";

static const char *const VERSIONS[] = { "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05" };

static void fail(const char *id, const char *id_end, int code, const char *message) {
    char buf[64];
    puts_("{\"jsonrpc\":\"2.0\",\"id\":");
    put(id, (size_t)(id_end - id));
    snprintf(buf, sizeof buf, ",\"error\":{\"code\":%d,\"message\":\"", code);
    puts_(buf);
    puts_(message);
    puts_("\"}}\n");
}

/* Answers with an error and leaves the calling handler. */
#define FAIL(...) do { fail(__VA_ARGS__); return; } while (0)

static void call_tool(const char *id, const char *id_end, const char *params, const char *params_end) {
    const char *name, *name_end, *args = NULL, *args_end = NULL, *v, *v_end;
    if (!member(params, params_end, "name", &name, &name_end)) FAIL(id, id_end, -32602, "tools/call: no name");
    member(params, params_end, "arguments", &args, &args_end);
    if (string_is(name, name_end, "echo")) {
        if (!args || !member(args, args_end, "text", &v, &v_end) || *v != '"') FAIL(id, id_end, -32602, "echo: text must be a string");
        head(id, id_end);
        puts_("{\"content\":[{\"type\":\"text\",\"text\":");
        put(v, (size_t)(v_end - v)); /* already a JSON string literal: copied, not re-escaped */
        puts_("}]}}\n");
    } else if (string_is(name, name_end, "blob")) {
        long bytes = -1;
        if (args && member(args, args_end, "bytes", &v, &v_end)) bytes = strtol(v, NULL, 10);
        if (bytes < 0) FAIL(id, id_end, -32602, "blob: bytes must be a non-negative integer");
        const struct blob *b = blob(bytes);
        head(id, id_end);
        put(b->json, b->len);
        puts_("}\n");
    } else if (string_is(name, name_end, "hang")) {
        /* never answers */
    } else {
        fail(id, id_end, -32602, "Unknown tool");
    }
}

static void on_line(const char *line, const char *end) {
    const char *id, *id_end, *method, *method_end, *params = NULL, *params_end = NULL;
    if (!member(line, end, "method", &method, &method_end)) return; /* a response: ignore */
    if (!member(line, end, "id", &id, &id_end) || (id_end - id == 4 && memcmp(id, "null", 4) == 0)) return; /* notification */
    member(line, end, "params", &params, &params_end);
    if (string_is(method, method_end, "tools/call")) {
        if (!params) FAIL(id, id_end, -32602, "tools/call: no params");
        call_tool(id, id_end, params, params_end);
    } else if (string_is(method, method_end, "ping")) {
        head(id, id_end);
        puts_("{}}\n");
    } else if (string_is(method, method_end, "tools/list")) {
        head(id, id_end);
        puts_(TOOLS);
        puts_("}\n");
    } else if (string_is(method, method_end, "initialize")) {
        const char *version = "2025-06-18", *v, *v_end;
        if (params && member(params, params_end, "protocolVersion", &v, &v_end)) {
            for (size_t i = 0; i < sizeof VERSIONS / sizeof VERSIONS[0]; i++) if (string_is(v, v_end, VERSIONS[i])) version = VERSIONS[i];
        }
        head(id, id_end);
        puts_("{\"protocolVersion\":\"");
        puts_(version);
        puts_("\",\"capabilities\":{\"tools\":{\"listChanged\":false}},\"serverInfo\":{\"name\":\"c-stub\",\"version\":\"1.0.0\"}}}\n");
    } else {
        fail(id, id_end, -32601, "Method not found");
    }
}

int main(void) {
    size_t cap = 1 << 20, len = 0;
    char *in = malloc(cap);
    if (!in) return 3;
    for (;;) {
        if (len == cap) {
            cap *= 2;
            in = realloc(in, cap);
            if (!in) return 3;
        }
        ssize_t n = read(0, in + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
        char *start = in, *end = in + len, *nl;
        while ((nl = memchr(start, '\n', (size_t)(end - start))) != NULL) {
            on_line(start, nl);
            start = nl + 1;
        }
        len = (size_t)(end - start);
        memmove(in, start, len);
        flush_out();
    }
    flush_out();
    return 0;
}
