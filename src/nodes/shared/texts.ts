/**
 * Status texts, translated through the node's own message catalog (nodes/locales/<lang>/dbgpt-*.json,
 * keys under "dbgpt.status") with the English text as the fallback when a key is missing. Placeholders use
 * Node-RED's i18n syntax, `__name__`. Texts without placeholders are sent to the editor as keys (see
 * status.ts), so every key here must be in every flow node's catalog.
 */
import type { NodeAPI } from "./red";

const ENGLISH: Readonly<Record<string, string>> = {
  "status.requesting": "requesting",
  "status.streaming": "__n__ streaming",
  "status.queued": "__n__ queued",
  "status.error.DBGPT_CONNECT": "connection failed",
  "status.error.DBGPT_TIMEOUT": "timed out",
  "status.error.DBGPT_AUTH": "API key rejected",
  "status.error.DBGPT_BAD_REQUEST": "bad request",
  "status.error.DBGPT_HTTP": "HTTP error",
  "status.error.DBGPT_NOT_FOUND": "not found",
  "status.error.DBGPT_STREAM_ERROR": "server error",
  "status.error.DBGPT_STREAM_CLOSED": "stream closed",
  "status.error.unknownApp": "unknown app?",
  "status.error.DBGPT_PROTOCOL": "protocol error",
  "status.error.DBGPT_INVALID_INPUT": "invalid input",
  "status.error.DBGPT_ABORTED": "aborted",
  "status.error.unknown": "error",
};

/** Whether `key` (e.g. "status.error.DBGPT_CONNECT") is a status text of the catalogs. */
export function hasStatusText(key: string): boolean {
  return Object.hasOwn(ENGLISH, key);
}

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

function interpolate(template: string, vars: Record<string, string | number> | undefined): string {
  if (!vars) return template;
  return template.replace(/__(\w+)__/g, (whole, name: string) =>
    Object.hasOwn(vars, name) ? String(vars[name]) : whole,
  );
}

export function createTranslator(RED: NodeAPI): Translate {
  return (key, vars) => {
    const fullKey = `dbgpt.${key}`;
    let text: unknown;
    try {
      text = RED._(fullKey, vars);
    } catch {
      text = undefined;
    }
    // i18next answers a missing key with the key itself (possibly namespace-prefixed).
    if (typeof text !== "string" || text === "" || text.endsWith(fullKey)) {
      return interpolate(ENGLISH[key] ?? key, vars);
    }
    return text;
  };
}
