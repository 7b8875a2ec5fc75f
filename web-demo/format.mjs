// Decoding and formatting record contents: bytes as text, JSON or hex; times; sizes. No DOM:
// the functions return strings or segments (a string, or {text, cls} for a styled span) that the
// page turns into nodes (dom.mjs appendSegments).

export const HEX_DUMP_LIMIT = 4096; // bytes shown in a hex dump

export const KIND_LABEL = { json: 'JSON', text: 'text', binary: 'binary', empty: 'empty' };

export const fmt = (n) => (n === null || n === undefined ? '–' : n.toLocaleString('en-US'));

const utf8 = new TextDecoder('utf-8', { fatal: true });
// Valid UTF-8 that holds C0 control characters (other than tab, newline, CR) is binary data.
const CONTROL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** The bytes as text, or null when they are not printable UTF-8. */
export function decodeText(bytes) {
  let str;
  try {
    str = utf8.decode(bytes);
  } catch {
    return null;
  }
  return CONTROL_CHARS.test(str) ? null : str;
}

export const hexBytes = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');

const JSON_TOKEN = /\s+|"(?:[^"\\]|\\.)*"?|[{}[\],:]|[^\s{}[\],:"]+/gy;

/**
 * Tokens of JSON text that JSON.parse accepted, classified for colouring. Literals are kept as
 * written: big integers and decimals such as 12.50 are not rounded through a double.
 */
export function jsonTokens(source) {
  const raw = source.match(JSON_TOKEN)?.filter((t) => !/^\s/.test(t)) ?? [];
  return raw.map((t, i) => {
    if ('{}[],:'.includes(t)) return { text: t, cls: 'punct' };
    if (t[0] === '"') return { text: t, cls: raw[i + 1] === ':' ? 'j-key' : 'j-string' };
    if (t === 'true' || t === 'false') return { text: t, cls: 'j-bool' };
    if (t === 'null') return { text: t, cls: 'j-null' };
    return { text: t, cls: 'j-number' };
  });
}

/**
 * Lays tokens out as segments: pretty (two-space indents like JSON.stringify(v, null, 2)) or on
 * one line. Punctuation and layout are plain strings; literals are {text, cls}.
 */
export function jsonSegments(tokens, pretty) {
  const segments = [];
  let depth = 0;
  let line = '';
  const flush = () => {
    if (line) segments.push(line);
    line = '';
  };
  const newline = () => {
    if (pretty) line += '\n' + '  '.repeat(depth);
  };
  for (let i = 0; i < tokens.length; i++) {
    const { text, cls } = tokens[i];
    const next = tokens[i + 1]?.text;
    if (cls === 'punct') {
      if (text === '{' || text === '[') {
        if (next === '}' || next === ']') {
          line += text + next;
          i++;
        } else {
          line += text;
          depth++;
          newline();
        }
      } else if (text === '}' || text === ']') {
        depth--;
        newline();
        line += text;
      } else if (text === ',') {
        line += ',';
        newline();
      } else {
        line += pretty ? ': ' : ':';
      }
    } else {
      flush();
      segments.push({ text, cls });
    }
  }
  flush();
  return segments;
}

/**
 * How a value is shown: {kind: 'json'|'text'|'binary'|'empty', text, tokens?}. With `preview`
 * (characters), text and tokens cover only the start of the value (a list row).
 */
export function describeValue(bytes, preview = Infinity) {
  if (bytes.length === 0) return { kind: 'empty', text: '' };
  const str = decodeText(bytes);
  if (str === null) return { kind: 'binary', text: hexBytes(bytes.subarray(0, Math.min(HEX_DUMP_LIMIT, preview))) };
  const trimmed = str.trim();
  if (trimmed && '{["-0123456789tfn'.includes(trimmed[0])) {
    try {
      JSON.parse(trimmed);
      return { kind: 'json', text: trimmed, tokens: jsonTokens(trimmed.slice(0, preview)) };
    } catch {
      // not JSON: plain text
    }
  }
  return { kind: 'text', text: str.slice(0, preview) };
}

export function describeKey(bytes) {
  if (bytes.length === 0) return { kind: 'empty', text: '' };
  const str = decodeText(bytes);
  return str === null ? { kind: 'binary', text: hexBytes(bytes) } : { kind: 'text', text: str };
}

/** Classic hex dump as segments: offset, 16 bytes in two groups of 8, printable ASCII. */
export function hexDumpSegments(bytes) {
  const segments = [];
  const n = Math.min(bytes.length, HEX_DUMP_LIMIT);
  for (let i = 0; i < n; i += 16) {
    const chunk = bytes.subarray(i, Math.min(i + 16, n));
    let hex = '';
    for (let j = 0; j < 16; j++) {
      if (j === 8) hex += ' ';
      hex += j < chunk.length ? chunk[j].toString(16).padStart(2, '0') + ' ' : '   ';
    }
    const ascii = Array.from(chunk, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    segments.push({ text: i.toString(16).padStart(8, '0'), cls: 'hex-offset' }, '  ', hex, ' ',
      { text: `|${ascii}|`, cls: 'hex-ascii' }, '\n');
  }
  if (bytes.length > n) segments.push({ text: `… ${fmt(bytes.length - n)} more bytes`, cls: 'hex-offset' });
  return segments;
}

const pad = (n, width = 2) => String(n).padStart(width, '0');

export function localDate(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export function localTime(date) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

const zoneFormat = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });

export function zoneName(date) {
  return zoneFormat.formatToParts(date).find((p) => p.type === 'timeZoneName')?.value ?? '';
}

/** A time as the page shows it in sentences: 2026-11-25 13:50:00 UTC. */
export function formatWhen(ms) {
  const date = new Date(ms);
  return `${localDate(date)} ${localTime(date).slice(0, 8)} ${zoneName(date)}`;
}

/** The value of a datetime-local input for `date` (local time, seconds). */
export function dateTimeLocalValue(date) {
  return `${localDate(date)}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A record timestamp (bigint ms) as a Date, or null when there is none. */
export function timestampDate(ms) {
  if (ms < 0n) return null;
  const date = new Date(Number(ms));
  return Number.isNaN(date.getTime()) ? null : date;
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Record headers as [{key, value}] with string keys and byte (or null) values, whatever shape
 * the SDK hands over (an array of {key, value} or [key, value], a Map or an object); [] when the
 * record has none.
 */
export function normalizeHeaders(headers) {
  if (!headers) return [];
  let entries;
  if (Array.isArray(headers)) entries = headers.map((h) => (Array.isArray(h) ? h : [h?.key, h?.value]));
  else if (headers instanceof Map) entries = [...headers];
  else if (typeof headers === 'object') entries = Object.entries(headers);
  else return [];
  const encoder = new TextEncoder();
  const decoder = new TextDecoder(); // the SDK's header keys are bytes (UTF-8 by convention)
  return entries.map(([key, value]) => ({
    key: key instanceof Uint8Array ? decoder.decode(key) : String(key ?? ''),
    value: value == null ? null : typeof value === 'string' ? encoder.encode(value) : value instanceof Uint8Array ? value : null,
  }));
}
