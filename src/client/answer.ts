/**
 * Chunks -> answer text, per chat mode. Turns what the server streams (deltas, cumulative `message`
 * snapshots, chat_app vis re-renders, reasoning) into the ChatEvents callers fold, and decides at the end
 * whether the answer is really an error DB-GPT delivered as text.
 *
 * Hot path (a plain delta without a backtick): one indexOf, one append to a TextBuffer, one event object.
 */
import type { ChatEvent, ChatMode } from "./api";
import {
  addVisBlock,
  type AnswerData,
  emptyData,
  extractArtifacts,
  hasData,
  namingLine,
  type QueryFailure,
  removeVisBlocks,
  VIEW_FAILED_TEXT,
} from "./artifacts";
import { answerTextError, noAppAnswerError, queryError } from "./errors";
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
/** A vis block's opening fence (```vis-<tag>\n<one-line JSON>\n```), taken out of streamed text. */
const VIS_OPEN = "```vis-";

/** Where a ```vis- fence opens in `text` (not the tail of a longer fence such as ``````vis-thinking), or -1. */
function visOpenAt(text: string, from: number): number {
  let at = text.indexOf(VIS_OPEN, from);
  while (at > 0 && text.charCodeAt(at - 1) === 96) at = text.indexOf(VIS_OPEN, at + 1);
  return at;
}

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

/** Pieces appended before they are made one flat string (see TextBuffer). */
const FLAT_PIECES = 4096;

/**
 * A string that grows by appends without V8's rope: `s += piece` a million times keeps a million rope
 * nodes, about 7 times the text (old-space memory, bench/RESULTS.md section 4), until something reads
 * the whole string. Here the recent pieces are flattened every FLAT_PIECES appends (a copy of those
 * pieces only) and the flat parts joined when the value is read, so each byte is copied twice at most.
 */
class TextBuffer {
  private parts: string[] = [];
  private recent = "";
  private pieces = 0;

  append(piece: string): void {
    this.recent += piece;
    if (++this.pieces < FLAT_PIECES) return;
    this.recent.charCodeAt(0); // reading a character flattens the rope in place
    this.parts.push(this.recent);
    this.recent = "";
    this.pieces = 0;
  }

  set(text: string): void {
    this.parts = [];
    this.recent = text;
    this.pieces = 0;
  }

  get value(): string {
    if (this.parts.length > 0) {
      this.parts.push(this.recent);
      this.recent = this.parts.join("");
      this.parts = [];
      this.pieces = 0;
    }
    return this.recent;
  }
}

/**
 * The answer and reasoning as the caller folds them, and the one place that emits events.
 * While the start of the answer could still be one of the error prefixes, answer text is held back,
 * so an error delivered as text never reaches the caller as stream output.
 */
export class AnswerOutput implements TextTarget {
  private readonly textBuffer = new TextBuffer();
  private readonly reasoningBuffer = new TextBuffer();
  /** performance.now() when the first answer or reasoning text arrived. */
  firstTextAt: number | undefined;
  private gate = Gate.Hold;
  /** A rewrite to "" is announced with the next non-empty text, so a replace is never empty mid-stream. */
  private replacePending = false;

  constructor(private readonly emit: (event: ChatEvent) => void) {}

  /** The answer text so far. */
  get text(): string {
    return this.textBuffer.value;
  }

  /** The reasoning text so far ("" when none). */
  get reasoning(): string {
    return this.reasoningBuffer.value;
  }

  append(delta: string): void {
    if (this.firstTextAt === undefined) this.firstTextAt = performance.now();
    this.textBuffer.append(delta);
    if (this.gate === Gate.Open && !this.replacePending) this.emit({ type: "delta", text: delta });
    else this.afterChange();
  }

  replace(text: string): void {
    if (text !== "" && this.firstTextAt === undefined) this.firstTextAt = performance.now();
    this.textBuffer.set(text);
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
    this.reasoningBuffer.append(delta);
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
 * fence at the end of what arrived is held back; text is never re-scanned. With `onBlock`, ```vis-* blocks
 * are taken out too (held until complete, then handed over whole), so no markup reaches the answer.
 */
export class ThinkingSplitter {
  private inThinking = false;
  /** Text held back: a possible partial fence, or an unfinished vis block (which always starts with ```). */
  private held = "";
  /** The newline that follows a closing fence belongs to the fence. */
  private skipNewline = false;
  /** The newline to skip follows a vis block (onBlock is told, so `raw` can keep it). */
  private afterVis = false;

  constructor(
    public target: TextTarget,
    private readonly onBlock?: (tag: string, body: string, text: string) => void,
  ) {}

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

  /**
   * `text` starts with ```vis-: hands a complete block to onBlock and returns its length; -1 while it is
   * incomplete. Something that turns out not to be a vis block is plain text (returns its length).
   */
  private takeVisBlock(text: string): number {
    const tagEnd = text.indexOf("\n");
    if (tagEnd === -1) return -1;
    const tag = text.slice(3, tagEnd);
    if (!/^vis-[A-Za-z0-9_-]+$/.test(tag)) {
      this.target.append(text.slice(0, tagEnd));
      return tagEnd;
    }
    const bodyEnd = text.indexOf("\n", tagEnd + 1);
    if (bodyEnd === -1 || text.length < bodyEnd + 4) return -1;
    if (!text.startsWith("```", bodyEnd + 1)) {
      this.target.append(text.slice(0, bodyEnd));
      return bodyEnd;
    }
    const end = bodyEnd + 4;
    this.skipNewline = true; // the line break after a block goes with it
    this.afterVis = true;
    (this.onBlock as (tag: string, body: string, text: string) => void)(
      tag,
      text.slice(tagEnd + 1, bodyEnd),
      text.slice(0, end),
    );
    return end;
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
    this.afterVis = false;
  }

  private split(input: string): void {
    let rest = this.held + input;
    this.held = "";
    for (;;) {
      if (this.skipNewline && rest !== "") {
        this.skipNewline = false;
        if (rest.charCodeAt(0) === 10) {
          rest = rest.slice(1);
          if (this.afterVis) this.onBlock?.("", "", "\n");
        }
        this.afterVis = false;
      }
      const fence = this.inThinking ? THINKING_CLOSE : THINKING_OPEN;
      const at = rest.indexOf(fence);
      const vis = this.inThinking || this.onBlock === undefined ? -1 : visOpenAt(rest, 0);
      if (vis !== -1 && (at === -1 || vis < at)) {
        if (vis > 0) this.target.append(rest.slice(0, vis));
        rest = rest.slice(vis);
        const taken = this.takeVisBlock(rest);
        if (taken === -1) {
          this.held = rest;
          return;
        }
        rest = rest.slice(taken);
        continue;
      }
      let end = at === -1 ? rest.length - partialFenceLength(rest, fence) : at;
      if (at === -1 && !this.inThinking && this.onBlock !== undefined) {
        end = Math.min(end, rest.length - partialFenceLength(rest, VIS_OPEN));
      }
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
export function parseVisDocument(content: string, artifacts?: VisArtifacts): VisDocument {
  const doc: VisDocument = { messages: [], plans: [], trailingText: "" };
  collectVisBlocks(content, doc, true, artifacts);
  return doc;
}

/** One vis block found in a chat_app document, at any depth. */
const NESTED_VIS_BLOCK = /(?:^|\n)```(vis-[A-Za-z0-9_-]+)\n([^\n]*)\n```(?=\n|$)/g;

/**
 * The artifacts of chat_app documents: each block once per document (the server renders the last message
 * twice), in document order; a body is parsed once across re-renders.
 */
export class VisArtifacts {
  data: AnswerData = emptyData();
  private seen = new Set<string>();
  private cache = new Map<string, AnswerData>();
  private nextCache = new Map<string, AnswerData>();

  /** A new document starts. */
  begin(): void {
    this.data = emptyData();
    this.seen.clear();
    this.cache = this.nextCache;
    this.nextCache = new Map();
  }

  add(tag: string, body: string): void {
    const key = tag + "\n" + body;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    let parsed = this.nextCache.get(key) ?? this.cache.get(key);
    if (parsed === undefined) {
      parsed = emptyData();
      addVisBlock(tag, body, parsed);
    }
    this.nextCache.set(key, parsed);
    this.data.charts.push(...parsed.charts);
    this.data.code.push(...parsed.code);
    this.data.tools.push(...parsed.tools);
  }

  /** Every vis block inside a message's markdown. */
  scan(markdown: string): void {
    if (markdown.indexOf("```vis-") === -1) return;
    NESTED_VIS_BLOCK.lastIndex = 0;
    for (let m = NESTED_VIS_BLOCK.exec(markdown); m !== null; m = NESTED_VIS_BLOCK.exec(markdown)) {
      this.add(m[1], m[2]);
    }
  }
}

const FENCE_TAG = /^(`{3,})([A-Za-z0-9_-]+)[ \t]*\n/;

function collectVisBlocks(
  content: string,
  doc: VisDocument,
  topLevel: boolean,
  artifacts: VisArtifacts | undefined,
): void {
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
    readVisBlock(open[2], body, doc, artifacts);
    search = close === -1 ? content.length : close + closing.length;
    textStart = search;
  }
  if (topLevel) doc.trailingText = content.slice(textStart).trim();
}

function readVisBlock(
  tag: string,
  body: string,
  doc: VisDocument,
  artifacts: VisArtifacts | undefined,
): void {
  if (tag !== "agent-messages" && tag !== "agent-plans") {
    if (artifacts !== undefined && tag.startsWith("vis-")) artifacts.add(tag, body);
    return;
  }
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
      const message = item as AgentMessage;
      doc.messages.push(message);
      if (artifacts !== undefined && typeof message.markdown === "string") artifacts.scan(message.markdown);
    } else {
      const plan = item as AgentPlan;
      doc.plans.push(plan);
      if (typeof plan.markdown === "string") collectVisBlocks(plan.markdown, doc, false, artifacts);
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
  /** The answer's data (charts, references, code, tools). */
  data: AnswerData = emptyData();
  /** Artifact markup was taken out of the answer text. */
  markupRemoved = false;
  /** chat_data: the database refused the query (a non-stream answer says how). */
  queryFailure: QueryFailure | undefined;
  /** A streamed chat_data answer ended with DB-GPT's "Generate view content failed". */
  viewFailed = false;

  private readonly splitter: ThinkingSplitter;
  private visArtifacts: VisArtifacts | undefined;
  /** Streams: the vis blocks taken out, and where (in the answer text) they stood, to rebuild `raw`. */
  private removedBlocks: { at: number; text: string }[] | undefined;
  /** While a rewritten snapshot is split again: the text it becomes. */
  private rewriting: TextCollector | undefined;
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
    this.splitter = new ThinkingSplitter(this.output, (tag, body, text) =>
      this.onStreamBlock(tag, body, text),
    );
  }

  /** A whole non-stream answer: artifacts are taken out before anything is emitted. */
  onWhole(
    chunk: StreamChunk,
    content: string | null | undefined,
    reasoning: string | null | undefined,
  ): void {
    if (this.chatMode === "chat_app" || typeof content !== "string") {
      this.onDelta(chunk, content, reasoning);
      return;
    }
    this.noteChunk(chunk);
    if (typeof reasoning === "string" && reasoning !== "") this.output.appendReasoning(reasoning);
    const split = splitThinking(content);
    if (split.reasoning !== "") this.output.appendReasoning(split.reasoning);
    const extracted = extractArtifacts(split.text, this.chatMode);
    this.data = extracted.data;
    if (extracted.changed) {
      this.markupRemoved = true;
      this.raw = content;
    }
    this.queryFailure = extracted.queryFailure;
    if (extracted.text !== "") this.output.append(extracted.text);
  }

  /** What the result carries besides the text: the data, and `raw` when markup was taken out. */
  resultData(): {
    charts: AnswerData["charts"];
    references: AnswerData["references"];
    code: AnswerData["code"];
    tools: AnswerData["tools"];
    raw?: string;
    viewFailed?: boolean;
  } {
    const out: ReturnType<ChatAnswer["resultData"]> = { ...this.data };
    if (this.chatMode !== "chat_app" && this.markupRemoved) out.raw = this.rawText();
    if (this.viewFailed) out.viewFailed = true;
    return out;
  }

  private rawText(): string {
    if (this.raw !== undefined) return this.raw;
    const text = this.output.text;
    let raw = "";
    let from = 0;
    for (const block of this.removedBlocks ?? []) {
      raw += text.slice(from, block.at) + block.text;
      from = block.at;
    }
    return raw + text.slice(from);
  }

  private onStreamBlock(tag: string, body: string, text: string): void {
    const blocks = this.removedBlocks;
    if (tag === "" && blocks !== undefined) {
      blocks[blocks.length - 1].text += text; // the line break the block took with it
      return;
    }
    this.markupRemoved = true;
    (this.removedBlocks ??= []).push({ at: (this.rewriting ?? this.output).text.length, text });
    addVisBlock(tag, body, this.data);
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
    if (this.markupRemoved && this.chatMode !== "chat_app" && this.output.text.trim() === "") {
      const line = namingLine(this.data);
      if (line !== "") this.output.append(line);
    }
    this.output.finish();
    if (this.output.isError || startsWithAnswerError(this.output.text))
      throw answerTextError(this.output.text);
    if (this.chatMode === "chat_app" && this.output.text.trim() === "") {
      throw noAppAnswerError(this.chatParam ?? "", this.output.text);
    }
    const failure = this.queryFailure;
    if (failure !== undefined) throw queryError(failure.message, failure.sql, failure.explanation);
    if (this.chatMode === "chat_data" && this.output.text.endsWith(VIEW_FAILED_TEXT)) this.viewFailed = true;
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
    // The whole text is split again: its vis blocks are collected again, at positions in the new text.
    this.data = emptyData();
    this.removedBlocks = undefined;
    this.rewriting = scratch;
    this.splitter.target = scratch;
    this.splitter.push(text);
    this.splitter.target = this.output;
    this.rewriting = undefined;
    this.output.replace(scratch.text);
    if (scratch.reasoning.startsWith(this.output.reasoning)) {
      const more = scratch.reasoning.slice(this.output.reasoning.length);
      if (more !== "") this.output.appendReasoning(more);
    }
  }

  /** chat_app: every content is the whole conversation re-rendered. */
  private onDocument(content: string): void {
    this.raw = content;
    const artifacts = (this.visArtifacts ??= new VisArtifacts());
    artifacts.begin();
    const doc = parseVisDocument(content, artifacts);
    this.messages = doc.messages;
    this.plans = doc.plans;
    this.data = artifacts.data;
    const answer = chatAppAnswer(doc);
    if (answer === undefined) return;
    const split = splitThinking(answer.markdown);
    if (split.text.indexOf("```vis-") !== -1) {
      const own = emptyData();
      const text = removeVisBlocks(split.text, (tag, body) => addVisBlock(tag, body, own)).trim();
      split.text = text === "" && hasData(own) ? namingLine(own) : text;
    }
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
