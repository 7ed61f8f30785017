/**
 * The API key in what the server answers: a hostile or careless server may echo the key it was sent, in an
 * error or inside an answer, an app or a list. The client hands out none of it: every form of the key
 * (secretForms: as is, JSON-escaped, percent-encoded) becomes "***" in errors (withoutSecret), answer text,
 * streamed events, the chat's result and every list or app.
 *
 * Streamed text is masked piece by piece: a piece that ends with the first MIN_HELD or more characters of
 * a form holds them back until the next piece shows whether the key follows (so no fragment goes out);
 * a shorter start goes out at once (so an ordinary delta is never held back because it ends like a key
 * starts) and, when the key turns out to follow, the rest of it is masked.
 */

/**
 * The forms a key takes in the texts a server sends back: as is, JSON-escaped (as JavaScript and as Python's
 * `json.dumps` write it, once or twice: a JSON text inside a JSON string) and percent-encoded (upper or lower
 * case hex, a space as %20 or +). Longest first.
 */
function secretForms(secret: string): string[] {
  const forms = new Set<string>([secret]);
  const jsonEscaped = (text: string) => JSON.stringify(text).slice(1, -1);
  const asciiEscaped = (text: string) =>
    jsonEscaped(text).replace(
      /[\u007f-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
  for (const once of [jsonEscaped(secret), asciiEscaped(secret)]) {
    forms.add(once);
    forms.add(jsonEscaped(once));
  }
  try {
    const encoded = encodeURIComponent(secret);
    for (const form of [encoded, encoded.replace(/%20/g, "+")]) {
      forms.add(form);
      forms.add(form.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()));
    }
  } catch {
    // a lone surrogate has no percent-encoded form (and cannot be sent in a header anyway)
  }
  return [...forms].filter((form) => form !== "").sort((a, b) => b.length - a.length);
}

const MASK = "***";
/** A possible start of the key at the end of a piece is held back from this many characters on. */
const MIN_HELD = 4;

export class SecretMask {
  private readonly forms: string[];
  private readonly longest: number;
  private readonly firstChars: Set<string>;

  constructor(secret: string) {
    this.forms = secretForms(secret); // longest first
    this.longest = this.forms.length === 0 ? 0 : this.forms[0].length;
    this.firstChars = new Set(this.forms.map((form) => form[0]));
  }

  /** `text` masked whole: the same as streaming it in one piece. */
  text(text: string): string {
    const stream = this.stream();
    return stream.push(text) + stream.end();
  }

  /** Every string in `value` (object keys too) masked; what holds none comes back as it was. */
  deep<T>(value: T): T {
    if (typeof value === "string") return this.text(value) as T;
    if (Array.isArray(value)) {
      const items = value.map((item: unknown) => this.deep(item));
      return (items.some((item, i) => item !== value[i]) ? items : value) as T;
    }
    if (value === null || typeof value !== "object") return value;
    let changed = false;
    const entries = Object.entries(value).map(([key, item]) => {
      const entry = [this.text(key), this.deep(item)] as const;
      if (entry[0] !== key || entry[1] !== item) changed = true;
      return entry;
    });
    return changed ? (Object.fromEntries(entries) as T) : value;
  }

  /** A masker for one stream of text pieces. */
  stream(): StreamMask {
    return new StreamMask(this);
  }

  /**
   * @internal The whole forms in `text`, left to right, none overlapping (the longest where several start
   * at one place). One pass per form, however many times the server repeats the key.
   */
  occurrences(text: string): { at: number; end: number }[] {
    const found: { at: number; end: number }[] = [];
    for (const form of this.forms) {
      for (let i = text.indexOf(form); i !== -1; i = text.indexOf(form, i + form.length)) {
        found.push({ at: i, end: i + form.length });
      }
    }
    if (found.length < 2) return found;
    found.sort((a, b) => a.at - b.at || b.end - a.end);
    const kept: { at: number; end: number }[] = [];
    let end = 0;
    for (const hit of found) {
      if (hit.at < end) continue; // inside the one before
      kept.push(hit);
      end = hit.end;
    }
    return kept;
  }

  /** @internal Where the longest end of `text` (from `from` on) that starts a form begins; text.length if none. */
  partialStart(text: string, from: number): number {
    for (let i = Math.max(from, text.length - this.longest + 1); i < text.length; i++) {
      if (!this.firstChars.has(text[i])) continue;
      const tail = text.slice(i);
      if (this.forms.some((form) => form.length > tail.length && form.startsWith(tail))) return i;
    }
    return text.length;
  }
}

export class StreamMask {
  /** The end of what went out (as it came, or masked by restart()) that may be the start of a form. */
  private sent = "";
  /** What has not gone out: the start of a form, MIN_HELD characters or more. */
  private held = "";

  constructor(private readonly mask: SecretMask) {}

  /** The piece as it may go out now ("" when all of it waits for the next piece). */
  push(piece: string): string {
    const text = this.sent + this.held + piece;
    const from = this.sent.length;
    let out = "";
    let pos = from;
    for (const hit of this.mask.occurrences(text)) {
      if (hit.end <= from) continue;
      // A form may begin in what already went out: the rest of it is masked.
      out += text.slice(pos, Math.max(pos, hit.at)) + MASK;
      pos = hit.end;
    }
    const start = this.mask.partialStart(text, pos === from ? 0 : pos);
    if (text.length - start >= MIN_HELD) {
      const holdFrom = Math.max(start, pos);
      out += text.slice(pos, holdFrom);
      this.sent = start < from ? text.slice(start, from) : "";
      this.held = text.slice(holdFrom);
    } else {
      out += text.slice(pos);
      this.sent = text.slice(start);
      this.held = "";
    }
    return out;
  }

  /**
   * A whole text that replaces everything before it: it goes out whole (a start of the key at its end
   * masked), and the pieces after it continue it (the rest of a key it began is masked too).
   */
  restart(text: string): string {
    this.sent = "";
    this.held = "";
    const out = this.push(text);
    if (this.held === "") return out;
    this.sent = this.held;
    this.held = "";
    return out + MASK;
  }

  /** The stream ended: what was held is the start of the key, masked. */
  end(): string {
    const held = this.held;
    this.sent = "";
    this.held = "";
    return held === "" ? "" : MASK;
  }
}
