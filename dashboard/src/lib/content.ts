/**
 * How a content block or resource contents is shown: text as text, images and audio as media
 * from a data: URL, binary blobs as a size and a download link, links and embedded resources by
 * their URI. Pure: the components only switch on `view.kind`.
 */

export type ContentView =
  | { kind: 'text'; text: string; mimeType?: string }
  | { kind: 'json'; text: string; mimeType?: string }
  | { kind: 'image'; src: string; mimeType: string }
  | { kind: 'audio'; src: string; mimeType: string }
  | { kind: 'blob'; href: string; mimeType: string; bytes: number }
  | { kind: 'link'; uri: string; name?: string; mimeType?: string; description?: string }
  | { kind: 'unknown'; text: string };

type Block = Record<string, unknown>;
const isRecord = (v: unknown): v is Block => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Decoded size of a base64 string. */
export function base64Bytes(base64: string): number {
  const clean = base64.replace(/\s/g, '');
  const padding = clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((clean.length * 3) / 4) - padding);
}

// Only these media types render inline: an SVG (script-capable) or unknown type is offered as a download.
const SAFE_IMAGE = /^image\/(png|jpe?g|gif|webp|avif|bmp)$/i;
const SAFE_AUDIO = /^audio\/(mpeg|mp3|wav|x-wav|ogg|webm|aac|flac|mp4)$/i;

/** Text blobs under this size are decoded and shown as text; larger ones are offered as a download. */
export const DECODE_LIMIT_BYTES = 256 * 1024;
const TEXTUAL = /^(text\/|application\/(json|xml|yaml|x-yaml|javascript)|[^;]*\+(json|xml))/i;

/** UTF-8 text of a base64 blob, or null when it is not valid base64 and UTF-8. */
export function decodeText(base64: string): string | null {
  try {
    const binary = atob(base64.replace(/\s/g, ''));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

function binaryView(data: string, mimeType: string): ContentView {
  // Images and audio (an SVG is XML too) stay media: shown when safe, else downloaded.
  if (TEXTUAL.test(mimeType) && !/^(image|audio)\//i.test(mimeType) && base64Bytes(data) <= DECODE_LIMIT_BYTES) {
    const text = decodeText(data);
    if (text !== null) return textView(text, mimeType);
  }
  const src = `data:${mimeType};base64,${data}`;
  if (SAFE_IMAGE.test(mimeType)) return { kind: 'image', src, mimeType };
  if (SAFE_AUDIO.test(mimeType)) return { kind: 'audio', src, mimeType };
  return { kind: 'blob', href: `data:application/octet-stream;base64,${data}`, mimeType, bytes: base64Bytes(data) };
}

function textView(text: string, mimeType: string | undefined): ContentView {
  if (mimeType && /json/i.test(mimeType)) {
    try {
      return { kind: 'json', text: JSON.stringify(JSON.parse(text), null, 2), mimeType };
    } catch {
      // not valid JSON after all: show it as it is
    }
  }
  return mimeType ? { kind: 'text', text, mimeType } : { kind: 'text', text };
}

/** A resource's contents entry (`resources/read`): `text` or base64 `blob`. */
export function resourceContentsView(contents: unknown): ContentView {
  if (!isRecord(contents)) return { kind: 'unknown', text: JSON.stringify(contents) ?? String(contents) };
  const mimeType = str(contents.mimeType);
  if (typeof contents.text === 'string') return textView(contents.text, mimeType);
  if (typeof contents.blob === 'string') return binaryView(contents.blob, mimeType ?? 'application/octet-stream');
  return { kind: 'unknown', text: JSON.stringify(contents, null, 2) };
}

/** A content block of a tool result or prompt message (`text`, `image`, `audio`, `resource_link`, `resource`). */
export function contentView(block: unknown): ContentView {
  if (!isRecord(block)) return { kind: 'unknown', text: JSON.stringify(block) ?? String(block) };
  switch (block.type) {
    case 'text':
      return textView(str(block.text) ?? '', undefined);
    case 'image':
    case 'audio':
      if (typeof block.data === 'string') return binaryView(block.data, str(block.mimeType) ?? (block.type === 'image' ? 'image/png' : 'audio/wav'));
      break;
    case 'resource_link': {
      const view: ContentView = { kind: 'link', uri: str(block.uri) ?? '' };
      const name = str(block.name) ?? str(block.title);
      if (name !== undefined) view.name = name;
      if (str(block.mimeType) !== undefined) view.mimeType = str(block.mimeType) as string;
      if (str(block.description) !== undefined) view.description = str(block.description) as string;
      return view;
    }
    case 'resource':
      return resourceContentsView(block.resource);
  }
  return { kind: 'unknown', text: JSON.stringify(block, null, 2) };
}
