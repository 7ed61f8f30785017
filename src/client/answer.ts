/**
 * Chunks -> answer text, per chat mode. Turns what the server streams (deltas, cumulative `message`
 * snapshots, chat_app vis re-renders, reasoning) into the ChatEvents callers fold, and decides at the end
 * whether the answer is really an error DB-GPT delivered as text.
 *
 * Hot path (a plain delta without a backtick): one indexOf, one `text +=`, one event object.
 */
import type { ChatEvent, ChatMode } from "./api";
import { answerTextError, noAppAnswerError } from "./errors";
import type { ChunkHandler } from "./stream";
import type { AgentMessage, AgentPlan, StreamChunk, Usage } from "./wire";

/** Answers that start with one of these are errors DB-GPT sent as ordinary content (dbgpt-api.md §5.6, §6). */
export const ANSWER_ERROR_PREFIXES = [
  "**LLMServer Generate Error",
  "Model server error!",
  "<span style='color:red'>ERROR!</span>",
] as const;

const THINKING_OPEN = "``````vis-thinking\n";
const THINKING_CLOSE = "\n``````";

export function startsWithAnswerError(text: string): boolean {
  for (const prefix of ANSWER_ERROR_PREFIXES) if (text.startsWith(prefix)) return true;
  return false;
}

function couldStillBecomeAnswerError(text: string): boolean {
  for (const prefix of ANSWER_ERROR_PREFIXES) if (prefix.startsWith(text)) return true;
  return false;
}

/** Length of the longest end of `text` that is the start of `fence` (a fence possibly cut by a chunk boundary). */
function partialFenceLength(text: string, fence: string): number {
  for (let k = Math.min(fence.length - 1, text.length); k > 0; k--) {
    if (fence.startsWith(text.slice(text.length - k))) return k;
  }
  return 0;
}

/** Where split text goes: answer text and reasoning text. */
interface TextTarget {
  append(text: string): void;
  appendReasoning(text: string): void;
}

const enum Gate {
  /** Nothing emitted yet: the text so far could still turn out to be an error prefix. */
  Hold,
  Open,
  /** The answer starts with an error prefix: no more answer events. */
  Error,
}

/**
 * The answer and reasoning as the caller folds them, and the one place that emits events.
 * While the start of the answer could still be one of the error prefixes, answer text is held back,
 * so an error delivered as text never reaches the caller as stream output.
 */
export class AnswerOutput implements TextTarget {
  text = "";
  reasoning = "";
  /** performance.now() when the first answer or reasoning text arrived. */
  firstTextAt: number | undefined;
  private gate = Gate.Hold;
  /** A rewrite to "" is announced with the next non-empty text, so a replace is never empty mid-stream. */
  private replacePending = false;

  constructor(private readonly emit: (event: ChatEvent) => void) {}

  append(delta: string): void {
    if (this.firstTextAt === undefined) this.firstTextAt = performance.now();
    this.text += delta;
    if (this.gate === Gate.Open && !this.replacePending) this.emit({ type: "delta", text: delta });
    else this.afterChange();
  }

  replace(text: string): void {
    if (text !== "" && this.firstTextAt === undefined) this.firstTextAt = performance.now();
    this.text = text;
    if (this.gate === Gate.Open) this.replacePending = true;
    this.afterChange();
  }

  /** Sets the whole answer: a delta when it extends the current text (and `rewrite` is false), else a replace. */
  update(text: string, rewrite: boolean): void {
    if (!rewrite && text.startsWith(this.text)) {
      if (text.length > this.text.length) this.append(text.slice(this.text.length));
    } else if (rewrite || text !== this.text) {
      this.replace(text);
    }
  }

  appendReasoning(delta: string): void {
    if (this.firstTextAt === undefined) this.firstTextAt = performance.now();
    this.reasoning += delta;
    this.emit({ type: "reasoning", text: delta });
  }

  /** End of stream: release held text so folding the events gives exactly `text`. */
  finish(): void {
    if (this.gate === Gate.Hold) this.open();
    if (this.gate === Gate.Open && this.replacePending) {
      this.replacePending = false;
      this.emit({ type: "replace", text: this.text });
    }
  }

  get isError(): boolean {
    return this.gate === Gate.Error;
  }

  private afterChange(): void {
    if (this.gate === Gate.Hold) {
      if (startsWithAnswerError(this.text)) this.gate = Gate.Error;
      else if (!couldStillBecomeAnswerError(this.text)) this.open();
    } else if (this.gate === Gate.Open && this.replacePending && this.text !== "") {
      this.replacePending = false;
      this.emit({ type: "replace", text: this.text });
    }
  }

  private open(): void {
    this.gate = Gate.Open;
    // Nothing was emitted while holding, so the whole text is one delta.
    if (this.text !== "") this.emit({ type: "delta", text: this.text });
  }
}

/**
 * Moves ``````vis-thinking blocks out of streamed answer text into reasoning. Only a possible partial
 * fence at the end of what arrived is held back; text is never re-scanned.
 */
export class ThinkingSplitter {
  private inThinking = false;
  private held = "";
  /** The newline that follows a closing fence belongs to the fence. */
  private skipNewline = false;

  constructor(public target: TextTarget) {}

  push(text: string): void {
    if (this.held === "" && !this.skipNewline && text.indexOf("`") === -1) {
      if (!this.inThinking) {
        this.target.append(text);
        return;
      }
      if (text.charCodeAt(text.length - 1) !== 10) {
        this.target.appendReasoning(text);
        return;
      }
    }
    this.split(text);
  }

  /** End of the text: whatever was held back is plain content after all. */
  flush(): void {
    const held = this.held;
    this.held = "";
    if (held === "") return;
    if (this.inThinking) this.target.appendReasoning(held);
    else this.target.append(held);
  }

  reset(): void {
    this.inThinking = false;
    this.held = "";
    this.skipNewline = false;
  }

  private split(input: string): void {
    let rest = this.held + input;
    this.held = "";
    for (;;) {
      if (this.skipNewline && rest !== "") {
        this.skipNewline = false;
        if (rest.charCodeAt(0) === 10) rest = rest.slice(1);
      }
      const fence = this.inThinking ? THINKING_CLOSE : THINKING_OPEN;
      const at = rest.indexOf(fence);
      const end = at === -1 ? rest.length - partialFenceLength(rest, fence) : at;
      const before = rest.slice(0, end);
      if (before !== "") {
        if (this.inThinking) this.target.appendReasoning(before);
        else this.target.append(before);
      }
      if (at === -1) {
        this.held = rest.slice(end);
        return;
      }
      rest = rest.slice(at + fence.length);
      this.inThinking = !this.inThinking;
      if (!this.inThinking) this.skipNewline = true;
    }
  }
}

/** A TextTarget that just collects. */
class TextCollector implements TextTarget {
  text = "";
  reasoning = "";
  append(text: string): void {
    this.text += text;
  }
  appendReasoning(text: string): void {
    this.reasoning += text;
  }
}

/** Splits a whole text at once: answer text without the vis-thinking blocks, and their content. */
export function splitThinking(text: string): { text: string; reasoning: string } {
  const collected = new TextCollector();
  const splitter = new ThinkingSplitter(collected);
  splitter.push(text);
  splitter.flush();
  return { text: collected.text, reasoning: collected.reasoning };
}

/** A chat_app document parsed: agent messages in document order (nested plan messages included). */
export interface VisDocument {
  messages: AgentMessage[];
  plans: AgentPlan[];
  /** Plain text after the last vis block, trimmed ("" when none). */
  trailingText: string;
}

/**
 * Parses chat_app vis markdown: fenced blocks (```` ```agent-messages ````, ```` ```agent-plans ````,
 * any other ```` ```tag ````) whose bodies are JSON, with plain text between them. Plans nest their
 * messages as another document inside `markdown`. Blocks whose body is not the JSON expected are skipped.
 */
export function parseVisDocument(content: string): VisDocument {
  const doc: VisDocument = { messages: [], plans: [], trailingText: "" };
  collectVisBlocks(content, doc, true);
  return doc;
}

const FENCE_TAG = /^(`{3,})([A-Za-z0-9_-]+)[ \t]*\n/;

function collectVisBlocks(content: string, doc: VisDocument, topLevel: boolean): void {
  let textStart = 0;
  let search = 0;
  while (search < content.length) {
    const at = content.indexOf("```", search);
    if (at === -1) break;
    if (at > 0 && content.charCodeAt(at - 1) !== 10) {
      search = at + 3;
      continue;
    }
    const open = FENCE_TAG.exec(content.slice(at, at + 200));
    if (open === null) {
      search = at + 3;
      continue;
    }
    const bodyStart = at + open[0].length;
    const closing = "\n" + open[1];
    let close = content.indexOf(closing, bodyStart - 1);
    // A closing fence has exactly the opener's backticks and ends its line.
    while (close !== -1) {
      const after = close + closing.length;
      if (after >= content.length || content.charCodeAt(after) === 10) break;
      close = content.indexOf(closing, after);
    }
    const body = content.slice(bodyStart, close === -1 ? content.length : close);
    readVisBlock(open[2], body, doc);
    search = close === -1 ? content.length : close + closing.length;
    textStart = search;
  }
  if (topLevel) doc.trailingText = content.slice(textStart).trim();
}

function readVisBlock(tag: string, body: string, doc: VisDocument): void {
  if (tag !== "agent-messages" && tag !== "agent-plans") return;
  let items: unknown;
  try {
    items = JSON.parse(body);
  } catch {
    return;
  }
  if (!Array.isArray(items)) return;
  for (const item of items) {
    if (item === null || typeof item !== "object") continue;
    if (tag === "agent-messages") {
      doc.messages.push(item as AgentMessage);
    } else {
      const plan = item as AgentPlan;
      doc.plans.push(plan);
      if (typeof plan.markdown === "string") collectVisBlocks(plan.markdown, doc, false);
    }
  }
}

/** What the answer currently is in a chat_app document, and whose it is. */
function chatAppAnswer(doc: VisDocument): { key: string; markdown: string } | undefined {
  if (doc.trailingText !== "") return { key: "text", markdown: doc.trailingText };
  const last = doc.messages.length - 1;
  if (last < 0) return undefined;
  const message = doc.messages[last];
  return {
    key: `${last}:${String(message.sender)}`,
    markdown: typeof message.markdown === "string" ? message.markdown : "",
  };
}

/**
 * Builds one chat's answer from its chunks. Streams are recognised by shape: `delta` chunks are
 * appended (chat_app's are whole re-renders), `message` chunks are cumulative snapshots.
 */
export class ChatAnswer implements ChunkHandler {
  readonly output: AnswerOutput;
  id: string | undefined;
  model: string;
  /** Data events received, [DONE] excluded. */
  chunks = 0;
  /** A `message` snapshot arrived: a clean end without [DONE] is then normal. */
  sawSnapshot = false;
  usage: Usage | undefined;
  /** chat_app: the last vis markdown as sent, and its parsed blocks. */
  raw: string | undefined;
  messages: AgentMessage[] = [];
  plans: AgentPlan[] = [];

  private readonly splitter: ThinkingSplitter;
  private snapshotText = "";
  private snapshotReasoning = "";
  private answerKey: string | undefined;
  private keyReasoning = "";

  constructor(
    private readonly chatMode: ChatMode,
    private readonly chatParam: string | undefined,
    model: string,
    emit: (event: ChatEvent) => void,
  ) {
    this.model = model;
    this.output = new AnswerOutput(emit);
    this.splitter = new ThinkingSplitter(this.output);
  }

  /** A `delta` chunk, or a whole non-stream answer (one delta carrying everything). */
  onDelta(
    chunk: StreamChunk,
    content: string | null | undefined,
    reasoning: string | null | undefined,
  ): void {
    this.noteChunk(chunk);
    if (this.chatMode === "chat_app") {
      if (typeof content === "string") this.onDocument(content);
      return;
    }
    if (typeof reasoning === "string" && reasoning !== "") this.output.appendReasoning(reasoning);
    if (typeof content === "string" && content !== "") this.splitter.push(content);
  }

  /** A cumulative `message` snapshot: its growth is what is new. */
  onSnapshot(
    chunk: StreamChunk,
    content: string | null | undefined,
    reasoning: string | null | undefined,
  ): void {
    this.noteChunk(chunk);
    this.sawSnapshot = true;
    if (this.chatMode === "chat_app") {
      if (typeof content === "string") this.onDocument(content);
      return;
    }
    if (typeof reasoning === "string" && reasoning !== this.snapshotReasoning) {
      if (reasoning.startsWith(this.snapshotReasoning)) {
        this.output.appendReasoning(reasoning.slice(this.snapshotReasoning.length));
      }
      this.snapshotReasoning = reasoning;
    }
    const text = typeof content === "string" ? content : "";
    if (text.startsWith(this.snapshotText)) {
      if (text.length > this.snapshotText.length) this.splitter.push(text.slice(this.snapshotText.length));
    } else {
      this.rewrite(text);
    }
    this.snapshotText = text;
  }

  /**
   * The stream ended normally ([DONE], a clean end after snapshots, a whole answer).
   * Throws the DbgptError when the answer is an error DB-GPT sent as text, or chat_app said nothing.
   */
  finish(): void {
    this.splitter.flush();
    this.output.finish();
    // Reading the whole text here (startsWith) also makes V8 flatten the rope that `text += delta` built:
    // a million-delta answer would otherwise reach the final message as ~7 times its size in small pieces
    // (bench/RESULTS.md, section 4).
    if (this.output.isError || startsWithAnswerError(this.output.text))
      throw answerTextError(this.output.text);
    if (this.chatMode === "chat_app" && this.output.text.trim() === "") {
      throw noAppAnswerError(this.chatParam ?? "", this.output.text);
    }
  }

  private noteChunk(chunk: StreamChunk): void {
    this.chunks++;
    if (typeof chunk.id === "string") this.id = chunk.id;
    if (typeof chunk.model === "string") this.model = chunk.model;
    if (chunk.usage !== undefined) this.usage = chunk.usage as Usage;
  }

  /** A snapshot that does not extend the previous one: the answer is rewritten. */
  private rewrite(text: string): void {
    // Re-split from scratch; the splitter keeps its state (an unclosed thinking block, a held fence).
    const scratch = new TextCollector();
    this.splitter.reset();
    this.splitter.target = scratch;
    this.splitter.push(text);
    this.splitter.target = this.output;
    this.output.replace(scratch.text);
    if (scratch.reasoning.startsWith(this.output.reasoning)) {
      const more = scratch.reasoning.slice(this.output.reasoning.length);
      if (more !== "") this.output.appendReasoning(more);
    }
  }

  /** chat_app: every content is the whole conversation re-rendered. */
  private onDocument(content: string): void {
    this.raw = content;
    const doc = parseVisDocument(content);
    this.messages = doc.messages;
    this.plans = doc.plans;
    const answer = chatAppAnswer(doc);
    if (answer === undefined) return;
    const split = splitThinking(answer.markdown);
    const newSpeaker = answer.key !== this.answerKey;
    const rewrite = newSpeaker && this.answerKey !== undefined;
    if (newSpeaker) {
      this.answerKey = answer.key;
      this.keyReasoning = "";
    }
    if (split.reasoning !== this.keyReasoning) {
      if (split.reasoning.startsWith(this.keyReasoning)) {
        this.output.appendReasoning(split.reasoning.slice(this.keyReasoning.length));
      }
      this.keyReasoning = split.reasoning;
    }
    this.output.update(split.text, rewrite);
  }
}
