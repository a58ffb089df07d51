/** Usage texts: `mcp-ipc --help` and `mcp-ipc COMMAND --help`. */

const SELECTION = `Server selection (default: the bundled Python demo server):
  --config FILE        An mcpServers JSON config file
  --server NAME        The server to use from that file (needed when it has several)
  -- CMD ARGS...       Run this command as the server (named after the command)`;

const ANSWERS = `Answering the server (sampling, elicitation, roots):
  --sample TEXT        Answer every sampling request with this text
  --elicit VALUE       Answer elicitations: a JSON object (accepted form content),
                       accept, decline or cancel
  --root URI           Offer this root (repeatable)
  Without these flags mcp-ipc asks on a terminal, and otherwise refuses with an error.`;

export const HELP = {
  main: `mcp-ipc — host local MCP servers over stdio, with a WebSocket gateway and a dashboard

Usage:
  mcp-ipc serve [--config FILE] [--port N] [--host ADDR] [--audit FILE] [-- CMD ARGS...]
  mcp-ipc cache clear [--server NAME] [--tool NAME] [--uri URI] [--url URL]
  mcp-ipc call TOOL [JSON_ARGS] [--timeout MS] (--config FILE --server NAME | -- CMD ARGS...)
  mcp-ipc tools (--config FILE --server NAME | -- CMD ARGS...)
  mcp-ipc info | resources | prompts (--config FILE --server NAME | -- CMD ARGS...)
  mcp-ipc request METHOD [JSON] | read URI | prompt NAME [JSON_ARGS] (… same selection)
  mcp-ipc bench [--json] [--quick] [--rounds N] [--window-ms MS] ...

Commands:
  serve      Start the servers, the gateway and the dashboard; prints the dashboard URL
  call       Call one tool (task tools run to their result): result JSON on stdout, progress on stderr
  tools      List a server's tools as JSON
  info       The MCP era, protocol version, server info and capabilities as JSON
  request    Send any MCP request (with the modern _meta envelope when the server is modern)
  resources  List resources and resource templates as JSON
  read       Read one resource
  prompts    List prompts as JSON
  prompt     Get one prompt with its arguments
  cache      Clear a running "serve"'s result cache (all, one server's, one tool's or resource's)
  bench      Run the benchmark suite

Without --config or "-- CMD ARGS...", the bundled Python demo server is used.

Options:
  -h, --help       Show help (mcp-ipc COMMAND --help for a command)
  -v, --version    Print the version

Exit codes: 0 ok, 1 tool or server error, 2 usage error.`,

  serve: `Usage: mcp-ipc serve [--config FILE [--no-watch]] [--port N] [--host ADDR] [--tls-cert FILE --tls-key FILE | --insecure] [--allow-host NAME] [--compress-loopback] [--audit FILE] [-- CMD ARGS...]

Starts the MCP servers, the WebSocket gateway and the dashboard, and prints
  mcp-ipc dashboard: http://127.0.0.1:PORT/?token=…
Every server is also an MCP Streamable HTTP endpoint at /mcp/NAME for any MCP client
(header "Authorization: Bearer TOKEN": the dashboard's token, or the server's "expose" tokens).
Ctrl-C (SIGINT) or SIGTERM shuts everything down; a second Ctrl-C forces the exit.

Options:
  --config FILE        An mcpServers (or VS Code "servers") JSON config file: every
                       server in it is started, and the file is watched: on each
                       edit added servers start, removed ones stop, changed ones
                       restart; an edit that does not parse or validate is rejected
                       (the running servers are kept)
  --no-watch           Do not watch the config file
  --port N             Gateway port (default 7400; 0 picks a free one)
  --host ADDR          Address to listen on (default 127.0.0.1); any other than loopback
                       needs TLS (or --insecure)
  --tls-cert FILE      Serve HTTPS/WSS with this certificate (PEM) ...
  --tls-key FILE       ... and this private key (PEM)
  --insecure           Listen beyond loopback without TLS (only behind a TLS proxy)
  --allow-host NAME    Accept this name in the Host header too (repeatable; e.g. the name
                       an MCP gateway in front uses); loopback names and the bind address always
  --compress-loopback  Compress for clients on this machine too (permessage-deflate, gzip/br):
                       off by default, as it saves nothing over loopback and costs CPU at both
                       ends; on behind a reverse proxy on this host that serves remote browsers
  --audit FILE         Append one JSON line per call to FILE (rotated at 16 MiB, 5 kept);
                       arguments are hashed (HMAC-SHA256, key MCP_IPC_AUDIT_KEY or random)
  -- CMD ARGS...       Run this command as the only server
  -h, --help           Show this help

Environment:
  MCP_IPC_TOKEN        Use this access token instead of a random one per start
  OTEL_EXPORTER_OTLP_ENDPOINT  Export OpenTelemetry traces over OTLP/HTTP to this
                       collector (needs @opentelemetry/sdk-trace-node,
                       @opentelemetry/exporter-trace-otlp-http, @opentelemetry/resources)`,

  call: `Usage: mcp-ipc call TOOL [JSON_ARGS] [--timeout MS] [--task] (--config FILE --server NAME | -- CMD ARGS...)

Calls one tool and prints its result (the MCP CallToolResult) as JSON on stdout.
Progress goes to stderr: a bar on a terminal, lines like "progress 3/20 Analysing…" otherwise.
Tools that must run as tasks (execution.taskSupport "required") run until their final result,
their status ("task working: …") on stderr; --task runs "optional" ones as tasks too.
A tool the server's config lists under "tools.confirm" is run only if you answer y on the terminal.

Arguments:
  TOOL                 The tool name
  JSON_ARGS            The tool's arguments as a JSON object (default {})

Options:
  --timeout MS         Idle timeout in ms; progress resets it (default 30000)
  --task               Run a tool whose task support is "optional" as a task
${SELECTION}
${ANSWERS}
  -h, --help           Show this help

Exit codes: 0 ok, 1 the tool returned isError or the server/IPC failed, 2 usage error.

Example:
  mcp-ipc call search '{"query":"initiative","limit":3}'`,

  tools: `Usage: mcp-ipc tools (--config FILE --server NAME | -- CMD ARGS...)

Prints the server's tools (name, description, inputSchema, …) as a JSON array on stdout.

${SELECTION}
  -h, --help           Show this help`,

  info: `Usage: mcp-ipc info (--config FILE --server NAME | -- CMD ARGS...)

Prints what the server said about itself, as JSON:
  { "era": "modern" | "legacy", "protocolVersion": "…", "serverInfo": {…}, "capabilities": {…} }
"modern" is the stateless revision (2026-07-28: server/discover, per-request _meta);
"legacy" the initialize handshake (2025-11-25 and older).

${SELECTION}
  -h, --help           Show this help`,

  request: `Usage: mcp-ipc request METHOD [JSON_PARAMS] [--timeout MS] (--config FILE --server NAME | -- CMD ARGS...)

Sends one MCP request and prints its result as JSON (modern servers get the _meta envelope, and
input_required rounds are answered like in "call").

Example:
  mcp-ipc request completion/complete '{"ref":{"type":"ref/prompt","name":"greet"},"argument":{"name":"style","value":"p"}}' -- python3 server.py

${SELECTION}
${ANSWERS}
  -h, --help           Show this help`,

  resources: `Usage: mcp-ipc resources (--config FILE --server NAME | -- CMD ARGS...)

Prints { "resources": […], "resourceTemplates": […] } as JSON (every page).

${SELECTION}
  -h, --help           Show this help`,

  read: `Usage: mcp-ipc read URI [--timeout MS] (--config FILE --server NAME | -- CMD ARGS...)

Reads one resource and prints the result ({ "contents": […] }) as JSON.

${SELECTION}
${ANSWERS}
  -h, --help           Show this help`,

  prompts: `Usage: mcp-ipc prompts (--config FILE --server NAME | -- CMD ARGS...)

Prints the server's prompts as a JSON array (every page).

${SELECTION}
  -h, --help           Show this help`,

  prompt: `Usage: mcp-ipc prompt NAME [JSON_ARGS] [--timeout MS] (--config FILE --server NAME | -- CMD ARGS...)

Gets one prompt with its arguments (a JSON object; MCP prompt arguments are strings) and prints
the result ({ "messages": […] }) as JSON.

${SELECTION}
${ANSWERS}
  -h, --help           Show this help`,

  cache: `Usage: mcp-ipc cache clear [--server NAME [--tool NAME | --uri URI]] [--url URL]

Empties the result cache of a running "mcp-ipc serve" (servers with a "cache" section), through
its gateway: every server's, one server's, or only one tool's results or one resource's reads.
Prints { "dropped": N }, the number of entries removed.

Options:
  --server NAME        Only this server
  --tool NAME          Only this tool's results (needs --server)
  --uri URI            Only this resource's reads (needs --server)
  --url URL            The dashboard URL "serve" printed, with its ?token=
                       (default http://127.0.0.1:7400/, token from MCP_IPC_TOKEN)
  -h, --help           Show this help

Environment:
  MCP_IPC_TOKEN        The gateway's access token, when the URL has none`,

  bench: `Usage: mcp-ipc bench [--json] [--quick] [--rounds N] [--window-ms MS]
                    [--contenders LIST] [--servers LIST] [--no-gateway] [--no-memory]
                    [--no-compression]

Measures mcp-ipc against a write-combining raw floor, the MCP SDK v1 and v2
clients and vscode-jsonrpc, all with the same calls in flight, against an
instant C stub (compiled now when cc exists; else the Node echo server), the
Node echo server and the Python demo: host CPU per call, calls/s, p50/p99,
large results, heap per pending request, cold start, the gateway path and
the gateway's compression (a 1 MB result with and without).
A full run takes several minutes.

Options:
  --json               Print every figure and ratio as JSON
  --quick              A smoke run: 1 round of short windows (not a measurement)
  --rounds N           Rounds (default 5; quick 1); figures are medians with min-max
  --window-ms MS       Length of each measured window (default 1000; quick 100)
  --contenders LIST    Comma-separated: floor,sdk-v1,sdk-v2,vscode-jsonrpc,mcp-ipc,mcp-ipc-tuned
  --servers LIST       Comma-separated: instant,node,python
  --no-gateway         Skip the gateway figures
  --no-memory          Skip the heap-per-pending probes
  --no-compression     Skip the compression comparison (1 MB result, on vs off)
  -h, --help           Show this help`,
} as const;

export type HelpTopic = keyof typeof HELP;
