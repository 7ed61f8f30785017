/**
 * Status texts, translated through the node's own message catalog (nodes/locales/<lang>/dbgpt-*.json,
 * keys under "dbgpt.status"), with the en-US catalog's text as the fallback when a key is missing.
 * Placeholders use Node-RED's i18n syntax, `__name__`. Texts without placeholders are sent to the editor as
 * keys (see status.ts), so every key here must be in every flow node's catalog (test/editor checks it).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CODES } from "../../client";
import type { NodeAPI } from "./red";

/** Every status text key: one per error code the client has, plus the activity texts. */
const STATUS_KEYS: ReadonlySet<string> = new Set([
  "status.requesting",
  "status.streaming",
  "status.queued",
  "status.error.unknownApp",
  "status.error.unknown",
  ...ERROR_CODES.map((code) => `status.error.${code}`),
]);

/** Whether `key` (e.g. "status.error.DBGPT_CONNECT") is a status text of the catalogs. */
export function hasStatusText(key: string): boolean {
  return STATUS_KEYS.has(key);
}

let english: Record<string, unknown> | undefined;

/** The en-US catalog's text for `key` (the catalogs are the one home of the words), else the key. */
function englishText(key: string): string {
  if (english === undefined) {
    try {
      // nodes/lib/nodes/shared/texts.js -> nodes/locales/en-US: every flow node's catalog has the texts.
      const file = join(__dirname, "..", "..", "..", "locales", "en-US", "dbgpt-chat.json");
      english = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    } catch {
      english = {};
    }
  }
  let node: unknown = english.dbgpt;
  for (const part of key.split(".")) node = (node as Record<string, unknown> | undefined)?.[part];
  return typeof node === "string" ? node : key;
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
      return interpolate(englishText(key), vars);
    }
    return text;
  };
}
