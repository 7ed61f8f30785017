/**
 * dbgpt-chat's inputs: its node settings (checked once, at deploy) and, per message, the chat request they
 * make with the message (TypedInputs, blank fields taken from msg, the question).
 */
import { randomUUID } from "node:crypto";
import { CHAT_MODES, invalidInputError, type ChatMode, type ChatRequest } from "../../client";
import {
  applyMessageOverrides,
  describe,
  evaluateTypedInput,
  isBlank,
  isOn,
  parseNodeOverrides,
  parseNonNegativeInteger,
  parseNumber,
  parsePositiveInteger,
  parseProperty,
  parseQuestion,
  parseText,
  type MessageOverrides,
  type OverrideValues,
} from "./inputs";
import type { InputMessage, Node, NodeAPI, NodeDef } from "./red";

export interface ChatDef extends NodeDef {
  server?: string;
  chatMode?: string;
  chatParam?: string;
  chatParamType?: string;
  model?: string;
  modelType?: string;
  input?: string;
  inputType?: string;
  convUid?: string;
  convUidType?: string;
  stream?: boolean | string;
  temperature?: number | string;
  maxNewTokens?: number | string;
  userName?: string;
  sysCode?: string;
  emitReasoning?: boolean | string;
  maxConcurrent?: number | string;
  coalesceMs?: number | string;
}

/** Node fields that, left blank, are taken from the message. */
const MESSAGE_OVERRIDES = {
  temperature: { property: "temperature", msgProperty: "temperature", parse: parseNumber },
  maxNewTokens: { property: "maxNewTokens", msgProperty: "max_new_tokens", parse: parsePositiveInteger },
  userName: { property: "userName", msgProperty: "user_name", parse: parseText },
  sysCode: { property: "sysCode", msgProperty: "sys_code", parse: parseText },
} satisfies MessageOverrides;

/** The TypedInputs, with the value and type used when a flow does not set them. */
const TYPED_INPUTS = {
  chatParam: { label: "chat param", value: "", type: "str" },
  model: { label: "model", value: "", type: "str" },
  input: { label: "input", value: "payload", type: "msg" },
  convUid: { label: "conversation id", value: "conv_uid", type: "msg" },
} as const;

export interface ChatSettings {
  chatMode: ChatMode;
  stream: boolean;
  emitReasoning: boolean;
  maxConcurrent: number;
  coalesceMs: number;
  overrides: OverrideValues<typeof MESSAGE_OVERRIDES>;
}

/** A chat request with its conversation id always set (a new one when the message has none). */
export type ConversationRequest = ChatRequest & { convUid: string };

/** The node's settings; throws DBGPT_INVALID_INPUT (then every message fails with it). */
export function parseChatSettings(def: ChatDef): ChatSettings {
  const chatMode = isBlank(def.chatMode) ? "chat_app" : String(def.chatMode);
  if (!(CHAT_MODES as readonly string[]).includes(chatMode)) {
    throw invalidInputError(
      `chat mode must be one of ${CHAT_MODES.join(", ")} (got ${describe(def.chatMode)})`,
    );
  }
  return {
    chatMode: chatMode as ChatMode,
    stream: isOn(def.stream, true),
    emitReasoning: isOn(def.emitReasoning, false),
    maxConcurrent: parseProperty("max concurrent", def.maxConcurrent, parseNonNegativeInteger, 0),
    coalesceMs: parseProperty("stream interval", def.coalesceMs, parseNonNegativeInteger, 0),
    overrides: parseNodeOverrides(MESSAGE_OVERRIDES, def as unknown as Record<string, unknown>),
  };
}

/** Logged once per node when an input is an OpenAI-style messages array. */
export const MESSAGES_ARRAY_NOTICE =
  "the input is an OpenAI-style messages array: only the last user message is sent " +
  "(DB-GPT keeps the conversation history per conv_uid)";

/** A message's chat request; `fromMessages`: the input was an OpenAI-style messages array. */
export interface AskedRequest {
  request: ConversationRequest;
  fromMessages: boolean;
}

/** The TypedInputs in the order they are read and checked. */
const TYPED_INPUT_ORDER = ["input", "chatParam", "model", "convUid"] as const;

/**
 * The request for one message, checked before anything is sent (an OpenAI-style messages array sends only
 * its last user message). At once when Node-RED reads every TypedInput at once, as it does for all but
 * JSONata and asynchronous context stores: then nothing waits before the request goes out.
 */
export function chatRequestOf(
  RED: NodeAPI,
  node: Node,
  def: ChatDef,
  settings: ChatSettings,
  msg: InputMessage,
  defaultModel: string,
): AskedRequest | Promise<AskedRequest> {
  const reads: ({ value: unknown } | Promise<unknown>)[] = [];
  try {
    for (const name of TYPED_INPUT_ORDER) {
      const fallback = TYPED_INPUTS[name];
      const value = (def[name] as string | undefined) ?? fallback.value;
      const type = (def[`${name}Type`] as string | undefined) || fallback.type;
      reads.push(
        isBlank(value)
          ? { value: undefined }
          : evaluateTypedInput(RED, node, fallback.label, value, type, msg),
      );
    }
  } catch (err) {
    // This input failed at once: an earlier one still being read is dropped, its failure with it.
    for (const read of reads) if (read instanceof Promise) read.catch(() => undefined);
    throw err;
  }
  if (reads.some((read) => read instanceof Promise)) {
    return Promise.all(reads.map((read) => (read instanceof Promise ? read : read.value))).then((values) =>
      requestOf(settings, msg, defaultModel, values),
    );
  }
  return requestOf(
    settings,
    msg,
    defaultModel,
    reads.map((read) => (read as { value: unknown }).value),
  );
}

/** The request from the TypedInputs' values (in TYPED_INPUT_ORDER) and the message's overrides. */
function requestOf(
  settings: ChatSettings,
  msg: InputMessage,
  defaultModel: string,
  [inputValue, chatParamValue, modelValue, convUidValue]: unknown[],
): AskedRequest {
  const { question, fromMessages } = parseQuestion(inputValue);
  const chatParam = isBlank(chatParamValue)
    ? undefined
    : parseProperty("chat param", chatParamValue, parseText, "");
  if (chatParam === undefined && settings.chatMode !== "chat_normal") {
    throw invalidInputError(
      `the chat param (app, knowledge space, flow or database) is empty; ${settings.chatMode} needs one`,
    );
  }
  const model = isBlank(modelValue) ? defaultModel : parseProperty("model", modelValue, parseText, "");
  const convUid = isBlank(convUidValue)
    ? randomUUID()
    : parseProperty("conversation id", convUidValue, parseText, "");

  const { temperature, maxNewTokens, userName, sysCode } = applyMessageOverrides(
    MESSAGE_OVERRIDES,
    settings.overrides,
    msg,
  );
  const request: ConversationRequest = {
    chatMode: settings.chatMode,
    model,
    question,
    convUid,
    stream: settings.stream,
    temperature: temperature ?? null,
  };
  if (chatParam !== undefined) request.chatParam = chatParam;
  if (maxNewTokens !== undefined) request.maxNewTokens = maxNewTokens;
  if (!isBlank(userName)) request.userName = userName;
  if (!isBlank(sysCode)) request.sysCode = sysCode;
  return { request, fromMessages };
}
