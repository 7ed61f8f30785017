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
