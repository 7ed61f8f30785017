/**
 * Bytes -> SSE events (eventsource-parser) -> typed chunks. UTF-8 is decoded across chunk boundaries;
 * events bigger than the limit, bad JSON and unknown shapes throw DBGPT_PROTOCOL, in-stream server
 * errors throw DBGPT_STREAM_ERROR (dbgpt-api.md §5).
 */
import { StringDecoder } from "node:string_decoder";
import { createParser, type EventSourceParser, type ParseError } from "eventsource-parser";
import { DbgptError, flowStreamError, protocolError, serverStreamError } from "./errors";
import type { StreamChunk } from "./wire";

export const DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024;

const SERVER_ERROR_PREFIX = "[SERVER_ERROR]";

/** Server JSON nested deeper than this is refused: Node-RED's message clone would overflow the stack. */
export const MAX_JSON_DEPTH = 64;

/**
 * JSON.parse for what the server sends: throws DBGPT_PROTOCOL for JSON nested deeper than 64 levels
 * (checked before parsing), a SyntaxError for text that is not JSON.
 */
export function parseServerJson(text: string): unknown {
  // Depth 65 needs 65 opening brackets: texts with fewer (all of a stream's usual events) need no scan.
  if (text.length > MAX_JSON_DEPTH && openingBrackets(text) > MAX_JSON_DEPTH) {
    let depth = 0;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (inString) {
        if (c === 92 /* \\ */) i++;
        else if (c === 34 /* " */) inString = false;
      } else if (c === 34) {
        inString = true;
      } else if (c === 123 /* { */ || c === 91 /* [ */) {
        if (++depth > MAX_JSON_DEPTH) {
          throw protocolError(`DB-GPT sent JSON nested deeper than ${MAX_JSON_DEPTH} levels`, text);
        }
      } else if (c === 125 /* } */ || c === 93 /* ] */) {
        depth--;
      }
    }
  }
  return JSON.parse(text);
}

/** How many `{` and `[` the text has, counted up to MAX_JSON_DEPTH + 1 (indexOf skips the rest). */
function openingBrackets(text: string): number {
  let count = 0;
  for (let at = text.indexOf("{"); at !== -1 && count <= MAX_JSON_DEPTH; at = text.indexOf("{", at + 1))
    count++;
  for (let at = text.indexOf("["); at !== -1 && count <= MAX_JSON_DEPTH; at = text.indexOf("[", at + 1))
    count++;
  return count;
}

/** Receives the chunks of one stream, in order. Methods may throw a DbgptError to fail the stream. */
export interface ChunkHandler {
  /** `choices[0].delta` chunk (incremental text; chat_app: a whole re-render). */
  onDelta(chunk: StreamChunk, content: string | null | undefined, reasoning: string | null | undefined): void;
  /** `choices[0].message` chunk: a cumulative snapshot (`incremental: false`). */
  onSnapshot(
    chunk: StreamChunk,
    content: string | null | undefined,
    reasoning: string | null | undefined,
  ): void;
}

interface ChoiceText {
  content?: string | null;
  reasoning_content?: string | null;
}

/**
 * Classifies one parsed `data:` JSON value (stream chunk or non-stream answer) and hands it to the
 * handler. Returns false when the value has an unknown shape.
 */
export function dispatchChunk(value: unknown, handler: ChunkHandler): boolean {
  if (value === null || typeof value !== "object") return false;
  const chunk = value as StreamChunk;
  const choices = chunk.choices;
  if (Array.isArray(choices)) {
    const choice = choices[0] as { delta?: ChoiceText; message?: ChoiceText } | undefined;
    if (choice === undefined) return true; // e.g. a usage-only chunk: nothing to add
    if (choice !== null && typeof choice === "object") {
      const delta = choice.delta;
      if (delta !== null && typeof delta === "object") {
        handler.onDelta(chunk, delta.content, delta.reasoning_content);
        return true;
      }
      const message = choice.message;
      if (message !== null && typeof message === "object") {
        handler.onSnapshot(chunk, message.content, message.reasoning_content);
        return true;
      }
    }
    return false;
  }
  if (chunk.error_code !== undefined && chunk.error_code !== null) {
    throw flowStreamError(
      typeof chunk.text === "string" ? chunk.text : JSON.stringify(value),
      chunk.error_code,
    );
  }
  return false;
}

/** Longest content read through a DeltaTemplate: V8 copies shorter slices instead of pointing into the text. */
const TEMPLATE_CONTENT_MAX = 12;
/** Templates a stream may build: a server whose chunks differ elsewhere too gets JSON.parse only. */
const TEMPLATE_TRIES = 8;

/**
 * A stream's events differ in little but their delta text (dbgpt-api.md §5.1: the same id, model and keys
 * in every chunk). From one parsed delta event, the text before and after its content's string literal is
 * kept; a later event that is that same text around a short literal with no quote, backslash or control
 * character is that same chunk with this content, so it is handed on without JSON.parse and the object
 * tree it builds per event.
 */
class DeltaTemplate {
  private constructor(
    /** The event's text up to and including the content literal's opening quote. */
    private readonly prefix: string,
    /** From the closing quote on. */
    private readonly suffix: string,
    readonly chunk: StreamChunk,
    readonly reasoning: string | null | undefined,
  ) {}

  /** A template from an event and its parsed chunk, if its content literal is found and is the content's. */
  static from(data: string, chunk: StreamChunk, delta: ChoiceText): DeltaTemplate | undefined {
    const content = delta.content;
    if (typeof content !== "string" || content.length > TEMPLATE_CONTENT_MAX) return undefined;
    const literal = JSON.stringify(content);
    const at = data.lastIndexOf(literal);
    if (at === -1) return undefined;
    // Copies, so that the template does not keep the body text the event was sliced from.
    const prefix = ownCopy(data.slice(0, at + 1));
    const suffix = ownCopy(data.slice(at + literal.length - 1));
    // The same text around another literal must parse to that content, or the literal was another value.
    let probe: unknown;
    try {
      probe = JSON.parse(`${prefix}\\u0000${suffix}`);
    } catch {
      return undefined;
    }
    const probed = (probe as { choices?: { delta?: ChoiceText }[] } | null)?.choices?.[0]?.delta;
    if (probed?.content !== "\u0000") return undefined;
    return new DeltaTemplate(prefix, suffix, chunk, delta.reasoning_content);
  }

  /** The event's content, if the event is this template around a plain short literal. */
  contentOf(data: string): string | undefined {
    const { prefix, suffix } = this;
    const end = data.length - suffix.length;
    if (end < prefix.length || end - prefix.length > TEMPLATE_CONTENT_MAX) return undefined;
    if (!data.startsWith(prefix) || !data.endsWith(suffix)) return undefined;
    for (let i = prefix.length; i < end; i++) {
      const c = data.charCodeAt(i);
      if (c < 0x20 || c === 34 /* " */ || c === 92 /* \\ */) return undefined;
    }
    return data.slice(prefix.length, end);
  }
}

/** A copy of a string that shares no memory with the (maybe much longer) string it was sliced from. */
function ownCopy(text: string): string {
  return Buffer.from(text, "utf16le").toString("utf16le");
}

/**
 * One stream's decoder: feed it body bytes as they arrive, then `end()` on a clean end of the body. While
 * `paused()` says so, events are held (framed, not interpreted) rather than handed on: a consumer that
 * pauses after an event gets no further one, even from the same chunk, until `release()`.
 */
export class SseChunkDecoder {
  /** Keeps a multi-byte character cut by a chunk boundary for the next chunk (and is much cheaper
   * per call than TextDecoder, which matters: undici hands over one HTTP chunk = one event at a time). */
  private readonly decoder = new StringDecoder("utf8");
  private readonly parser: EventSourceParser;
  /** Events at most this many UTF-16 units long are within the byte limit whatever they contain. */
  private readonly surelySmall: number;
  /** Lines that are not SSE fields: a multi-line `[SERVER_ERROR]` text continues in them. */
  private strayLines: string[] = [];
  private atStart = true;
  /** Events framed while paused, in order, from `heldFrom` on. */
  private held: string[] = [];
  private heldFrom = 0;
  private template: DeltaTemplate | undefined;
  private templateTries = 0;
  private parsedOne = false;

  constructor(
    private readonly handler: ChunkHandler,
    /** `data: [DONE]`. */
    private readonly onDone: () => void,
    private readonly maxEventBytes: number = DEFAULT_MAX_EVENT_BYTES,
    private readonly paused: () => boolean = () => false,
  ) {
    this.surelySmall = Math.floor(maxEventBytes / 3);
    this.parser = createParser({
      onEvent: (event) => this.onFramed(event.data),
      onError: (error) => this.onParseError(error),
      // Characters never outnumber UTF-8 bytes, so this only stops events that are surely too big
      // (the exact byte check is in onEvent). The slack covers the `data: ` prefix.
      maxBufferSize: maxEventBytes + 64,
    });
  }

  push(bytes: Uint8Array): void {
    let text = this.decoder.write(bytes);
    if (text === "") return;
    if (this.atStart) {
      // eventsource-parser strips a BOM only from bytes it decodes itself.
      this.atStart = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.parser.feed(text);
  }

  /** Hands on the held events until the consumer pauses again. */
  release(): void {
    const held = this.held;
    while (this.heldFrom < held.length) {
      if (this.paused()) return;
      this.onEvent(held[this.heldFrom++]);
    }
    this.held = [];
    this.heldFrom = 0;
  }

  /** The body ended cleanly: decode what is left and dispatch an event missing its blank line. */
  end(): void {
    const text = this.decoder.end();
    this.parser.feed(text + "\n\n");
  }

  /** One event's data, framed by the parser (with the stray lines that came with it). */
  private onFramed(data: string): void {
    if (data.length > this.surelySmall && Buffer.byteLength(data) > this.maxEventBytes) {
      throw tooBig(this.maxEventBytes);
    }
    if (this.strayLines.length !== 0) {
      const stray = this.strayLines;
      this.strayLines = [];
      if (data.startsWith(SERVER_ERROR_PREFIX)) data = [data, ...stray].join("\n");
    }
    if (this.heldFrom < this.held.length || this.paused()) this.held.push(data);
    else this.onEvent(data);
  }

  private onEvent(data: string): void {
    if (data === "") return; // an empty `data:` line: a heartbeat
    const template = this.template;
    if (template !== undefined) {
      const content = template.contentOf(data);
      if (content !== undefined) {
        this.handler.onDelta(template.chunk, content, template.reasoning);
        return;
      }
    }
    const first = data.charCodeAt(0);
    if (first === 91 /* [ */) {
      if (data === "[DONE]") {
        this.onDone();
        return;
      }
      if (data.startsWith(SERVER_ERROR_PREFIX))
        throw serverStreamError(data.slice(SERVER_ERROR_PREFIX.length));
    }
    let value: unknown;
    try {
      value = parseServerJson(data);
    } catch (err) {
      if (err instanceof DbgptError) throw err;
      throw protocolError("DB-GPT sent a stream event that is not JSON", data);
    }
    if (!dispatchChunk(value, this.handler)) {
      throw protocolError("DB-GPT sent a stream event of an unknown shape", data);
    }
    // Not from the first event: its way to the caller is the one timed most (the first delta).
    if (this.templateTries < TEMPLATE_TRIES && this.parsedOne) {
      const chunk = value as StreamChunk;
      const delta = (chunk.choices?.[0] as { delta?: ChoiceText } | undefined)?.delta;
      if (delta !== undefined && delta !== null) {
        this.templateTries++;
        this.template = DeltaTemplate.from(data, chunk, delta) ?? this.template;
      }
    }
    this.parsedOne = true;
  }

  private onParseError(error: ParseError): void {
    if (error.type === "max-buffer-size-exceeded") throw tooBig(this.maxEventBytes);
    // Not an SSE field: DB-GPT never sends one, except a multi-line [SERVER_ERROR] text.
    if (error.type === "unknown-field" && error.line !== undefined && this.strayLines.length < 100) {
      this.strayLines.push(error.line);
    }
  }
}

function tooBig(maxEventBytes: number) {
  return protocolError(`DB-GPT sent a stream event larger than ${maxEventBytes} bytes`);
}
