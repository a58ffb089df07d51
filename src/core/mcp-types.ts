/**
 * The MCP shapes the typed client API speaks (both eras share them). Open-ended on purpose
 * (`[k: string]: unknown`): servers add fields, and newer revisions add more.
 */

export interface Annotated {
  annotations?: { audience?: Array<'user' | 'assistant'>; priority?: number; lastModified?: string; [k: string]: unknown };
  _meta?: Record<string, unknown>;
  [k: string]: unknown;
}

/** One entry of `resources/list`. */
export interface ResourceInfo extends Annotated {
  uri: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
  size?: number;
}

/** One entry of `resources/templates/list`: an RFC 6570 URI template. */
export interface ResourceTemplateInfo extends Annotated {
  uriTemplate: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
}

/** Text or binary (base64 `blob`) contents of a resource. */
export interface ResourceContents {
  uri: string;
  mimeType?: string;
  text?: string;
  blob?: string;
  [k: string]: unknown;
}

export interface ReadResourceResult {
  contents: ResourceContents[];
  [k: string]: unknown;
}

export interface PromptArgument {
  name: string;
  description?: string;
  required?: boolean;
  [k: string]: unknown;
}

/** One entry of `prompts/list`. */
export interface PromptInfo {
  name: string;
  title?: string;
  description?: string;
  arguments?: PromptArgument[];
  [k: string]: unknown;
}

export interface PromptMessage {
  role: 'user' | 'assistant';
  content: { type: string; [k: string]: unknown };
}

export interface GetPromptResult {
  description?: string;
  messages: PromptMessage[];
  [k: string]: unknown;
}

/** What `completion/complete` completes: a prompt's argument or a resource template's variable. */
export type CompletionReference = { type: 'ref/prompt'; name: string } | { type: 'ref/resource'; uri: string };

export interface CompleteResult {
  completion: { values: string[]; total?: number; hasMore?: boolean };
  [k: string]: unknown;
}

/** A root offered to the server (`roots/list`). */
export interface Root {
  uri: string;
  name?: string;
}

/** A `notifications/message` from the server, as the bridge's `log` stream carries it. */
export interface LogMessage {
  server: string;
  level: 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical' | 'alert' | 'emergency';
  logger?: string;
  data: unknown;
}
