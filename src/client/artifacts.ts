/**
 * Answers as data: the structured artifacts DB-GPT embeds in answer content (dbgpt-artifacts.md), turned
 * into plain objects, and the readable text left once the markup is taken out.
 *
 * - `<chart-view content="…" />` (chat_data), `<references title="References" references="…" />`
 *   (chat_knowledge): ElementTree-escaped attributes, `&quot;` possibly already turned back into `"`.
 * - chat_dashboard's report JSON (long-format string values, pivoted back into rows).
 * - ```` ```vis-* ```` blocks with one-line JSON bodies (agents, flows).
 */
import type { ChatMode } from "./api";

export interface DashboardValue {
  name: string;
  type: string;
  value: string;
}

export interface Chart {
  /** Where it came from: "chart-view" (chat_data), "dashboard" (chat_dashboard), "vis-db-chart", "vis-dashboard". */
  source: "chart-view" | "dashboard" | "vis-db-chart" | "vis-dashboard";
  title: string;
  description: string;
  /** The chart type as DB-GPT names it (response_table, BarChart, "" ...). */
  type: string;
  sql: string;
  columns: string[];
  rows: Record<string, unknown>[];
  /** Set when this query failed. */
  error?: string;
  /** chat_dashboard only: the long-format values as sent. */
  values?: DashboardValue[];
}

export interface Reference {
  /** The number the answer's [n] markers use. */
  index: number;
  name: string;
  id: unknown;
  content: string;
  score: number | null;
  meta: unknown;
}

export interface CodeRun {
  language: string;
  code: string;
  log: string;
  success: boolean;
}

export interface ToolCall {
  /** vis-plugin, vis-api-response or vis-app-link. */
  source: string;
  name: string;
  args: unknown;
  status: string;
  result: unknown;
  error: string | null;
}

/** The data of one answer: always arrays (empty when none). */
export interface AnswerData {
  charts: Chart[];
  references: Reference[];
  code: CodeRun[];
  tools: ToolCall[];
}

/** A query the database refused, as chat_data reports it. */
export interface QueryFailure {
  /** The database's error text. */
  message: string;
  sql: string;
  /** The model's explanation (the text before the error). */
  explanation: string;
}

export function emptyData(): AnswerData {
  return { charts: [], references: [], code: [], tools: [] };
}

export function hasData(data: AnswerData): boolean {
  return data.charts.length + data.references.length + data.code.length + data.tools.length !== 0;
}

// ---- shared decoding ------------------------------------------------------------------------------

const ENTITIES: Record<string, string> = {
  "&quot;": '"',
  "&lt;": "<",
  "&gt;": ">",
  "&#10;": "\n",
  "&#13;": "\r",
  "&#09;": "\t",
  "&amp;": "&",
};

/** ElementTree attribute escaping undone, in one pass (so `&amp;quot;` stays `&quot;`). */
export function decodeAttribute(value: string): string {
  return value.indexOf("&") === -1
    ? value
    : value.replace(/&(?:quot|lt|gt|amp|#10|#13|#09);/g, (m) => ENTITIES[m]);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function str(value: unknown): string {
  return typeof value === "string" ? value : value === undefined || value === null ? "" : String(value);
}

function rowsOf(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? (value.filter(isObject) as Record<string, unknown>[]) : [];
}

function columnsOf(rows: Record<string, unknown>[]): string[] {
  return rows.length === 0 ? [] : Object.keys(rows[0]);
}

// ---- chat_data: <chart-view> ------------------------------------------------------------------------

const CHART_VIEW = /<chart-view content="([^>]*)" \/>/;
const DATA_ERROR_SPAN = '<span style="color:red">ERROR!</span>';

function chartFromView(view: Record<string, unknown>): Chart {
  const rows = rowsOf(view.data);
  return {
    source: "chart-view",
    title: "",
    description: "",
    type: str(view.type),
    sql: str(view.sql),
    columns: columnsOf(rows),
    rows,
  };
}

// ---- chat_knowledge: <references> ---------------------------------------------------------------------

const REFERENCES = /<references title="References" references="([^>]*)" \/>/g;

function referencesFrom(docs: unknown, into: Reference[], seen: Set<string>): void {
  if (!Array.isArray(docs)) return;
  for (const doc of docs) {
    if (!isObject(doc) || !Array.isArray(doc.chunks)) continue;
    for (const chunk of doc.chunks) {
      if (!isObject(chunk)) continue;
      const key = `${str(chunk.index)}\u0000${str(chunk.id)}`;
      if (seen.has(key)) continue; // a streamed conversation's view carries the element twice
      seen.add(key);
      into.push({
        index: typeof chunk.index === "number" ? chunk.index : Number(chunk.index),
        name: str(doc.name),
        id: chunk.id ?? null,
        content: str(chunk.content),
        score: typeof chunk.recall_score === "number" ? chunk.recall_score : null,
        meta: chunk.meta_info ?? null,
      });
    }
  }
}

// ---- chat_dashboard: the report JSON ----------------------------------------------------------------

function dashboardValue(value: string): unknown {
  if (value.trim() === "") return value;
  const n = Number(value);
  return Number.isFinite(n) && String(n) === value ? n : value;
}

function chartFromReport(item: Record<string, unknown>): Chart {
  const values = (Array.isArray(item.values) ? item.values : []).filter(isObject).map((v) => ({
    name: str(v.name),
    type: str(v.type),
    value: str(v.value),
  }));
  const columnNames = Array.isArray(item.column_name) ? item.column_name.map(str) : undefined;
  const types: string[] = [];
  for (const v of values) if (!types.includes(v.type)) types.push(v.type);
  const primary = columnNames?.find((c) => !types.includes(c)) ?? "name";
  const byName = new Map<string, Record<string, unknown>>();
  for (const v of values) {
    let row = byName.get(v.name);
    if (row === undefined) {
      row = { [primary]: v.name };
      byName.set(v.name, row);
    }
    row[v.type] = dashboardValue(v.value);
  }
  const rows = [...byName.values()];
  return {
    source: "dashboard",
    title: str(item.chart_name),
    description: str(item.chart_desc),
    type: str(item.chart_type),
    sql: str(item.chart_sql),
    columns: columnNames ?? columnsOf(rows),
    rows,
    values,
  };
}

/** chat_dashboard's report: `{template_name: "report", charts: [...]}`, else undefined. */
function parseReport(text: string): Chart[] | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith("{")) return undefined;
  const value = parseJson(trimmed);
  if (!isObject(value) || !Array.isArray(value.charts)) return undefined;
  return value.charts.filter(isObject).map(chartFromReport);
}

// ---- vis blocks -----------------------------------------------------------------------------------

/** A ```vis-<tag> block with its one-line body, at the start of a line. */
const VIS_BLOCK = /(^|\n)```(vis-[A-Za-z0-9_-]+)\n([^\n]*)\n```(?=\n|$)/g;

/** Adds what one vis block holds (unknown tags and bodies that are not JSON add nothing). */
export function addVisBlock(tag: string, body: string, data: AnswerData): void {
  const value = parseJson(body);
  if (!isObject(value)) return;
  switch (tag) {
    case "vis-db-chart":
    case "vis-chart": {
      if (tag === "vis-chart" && typeof value.sql !== "string") return; // GPT-Vis's own tag
      const rows = rowsOf(value.data);
      data.charts.push({
        source: "vis-db-chart",
        title: str(value.title),
        description: str(value.describe),
        type: str(value.type),
        sql: str(value.sql),
        columns: columnsOf(rows),
        rows,
      });
      return;
    }
    case "vis-dashboard":
      for (const item of Array.isArray(value.data) ? value.data : []) {
        if (!isObject(item)) continue;
        const rows = rowsOf(item.data);
        const chart: Chart = {
          source: "vis-dashboard",
          title: str(item.title),
          description: str(item.describe),
          type: str(item.type),
          sql: str(item.sql),
          columns: columnsOf(rows),
          rows,
        };
        if (typeof item.err_msg === "string") chart.error = item.err_msg;
        data.charts.push(chart);
      }
      return;
    case "vis-code": {
      const parts = Array.isArray(value.code) ? value.code : [];
      const code = parts.map((p) => (Array.isArray(p) ? str(p[1]) : str(p))).join("\n\n");
      data.code.push({
        language: str(value.language),
        code,
        log: str(value.log),
        success: value.exit_success === true,
      });
      return;
    }
    case "vis-plugin":
    case "vis-api-response":
      data.tools.push({
        source: tag,
        name: str(value.name),
        args: value.args ?? null,
        status: str(value.status),
        result: value.result ?? null,
        error: typeof value.err_msg === "string" ? value.err_msg : null,
      });
      return;
    case "vis-app-link":
      data.tools.push({
        source: tag,
        name: str(value.app_name),
        args: value.app_code === undefined ? null : { app_code: value.app_code },
        status: str(value.status),
        result: value.app_desc ?? null,
        error: typeof value.msg === "string" ? value.msg : null,
      });
      return;
    default:
      return;
  }
}

/** Text with every ```vis-* block taken out; the blocks go to `visit` in document order. */
export function removeVisBlocks(text: string, visit: (tag: string, body: string) => void): string {
  if (text.indexOf("```vis-") === -1) return text;
  return text.replace(VIS_BLOCK, (_m, lead: string, tag: string, body: string) => {
    visit(tag, body);
    return lead;
  });
}

/** The short line that stands for artifacts that had no text around them. */
export function namingLine(data: AnswerData): string {
  const names: string[] = [];
  for (const c of data.charts) names.push(c.title !== "" ? c.title : `Chart (${c.type || c.source})`);
  for (const c of data.code) names.push(`Code (${c.language || "code"})${c.success ? "" : ", failed"}`);
  for (const t of data.tools) names.push(`${t.source === "vis-app-link" ? "App" : "Tool"} ${t.name}`.trim());
  if (names.length === 0 && data.references.length !== 0) names.push("References");
  return names.join("; ");
}

/** What one whole content holds. */
export interface Extracted {
  /** The readable text: no artifact markup left. */
  text: string;
  data: AnswerData;
  /** Markup was taken out. */
  changed: boolean;
  /** chat_data: the database refused the query. */
  queryFailure?: QueryFailure;
}

/**
 * Whole content (thinking already taken out) -> readable text and data. `mode` decides which scene
 * artifacts to look for; vis blocks are taken out in every mode.
 */
export function extractArtifacts(content: string, mode: ChatMode | "view"): Extracted {
  const data = emptyData();
  let text = content;
  let changed = false;
  let queryFailure: QueryFailure | undefined;
  const anyMode = mode === "view";

  if ((mode === "chat_data" || anyMode) && text.indexOf("<chart-view") !== -1) {
    const m = CHART_VIEW.exec(text);
    if (m !== null) {
      const view = parseJson(decodeAttribute(m[1]));
      const before = text.slice(0, m.index);
      const after = text.slice(m.index + m[0].length);
      const errAt = before.indexOf(DATA_ERROR_SPAN);
      if (isObject(view)) {
        const chart = chartFromView(view);
        if (errAt !== -1) {
          const explanation = before
            .slice(0, errAt)
            .replace(/\s*\\n\s*$/, "")
            .trim();
          const message = before.slice(errAt + DATA_ERROR_SPAN.length).trim();
          chart.error = message;
          queryFailure = { message, sql: chart.sql, explanation };
          text = explanation;
        } else {
          text = (before.replace(/\n$/, "") + after).trim();
        }
        data.charts.push(chart);
      } else {
        text = (before + after).trim(); // unreadable JSON: still no markup in the text (raw keeps it)
      }
      changed = true;
    }
  }
  if ((mode === "chat_knowledge" || anyMode) && text.indexOf("<references ") !== -1) {
    const seen = new Set<string>();
    let first = -1;
    text = text.replace(REFERENCES, (_m, attr: string, offset: number) => {
      if (first === -1) first = offset;
      referencesFrom(parseJson(decodeAttribute(attr)), data.references, seen);
      return "";
    });
    if (first !== -1) {
      text = text.trim();
      changed = true;
    }
  }
  if (mode === "chat_dashboard" || anyMode) {
    const charts = parseReport(text);
    if (charts !== undefined) {
      data.charts.push(...charts);
      text = "";
      changed = true;
    }
  }
  const stripped = removeVisBlocks(text, (tag, body) => addVisBlock(tag, body, data));
  if (stripped !== text) {
    text = stripped.trim();
    changed = true;
  }
  if (changed && text === "") text = namingLine(data);
  const out: Extracted = { text, data, changed };
  if (queryFailure !== undefined) out.queryFailure = queryFailure;
  return out;
}

/** The text DB-GPT streams after a chat_data plan whose query failed (dbgpt-artifacts.md §2.3). */
export const VIEW_FAILED_TEXT = "Generate view content failed";

/** The SQL of a streamed chat_data plan (`{"thoughts": ..., "sql": ...}`), "" when it has none. */
export function planSql(text: string): string {
  const body = text.endsWith(VIEW_FAILED_TEXT) ? text.slice(0, -VIEW_FAILED_TEXT.length) : text;
  const start = body.indexOf("{");
  const end = body.lastIndexOf("}");
  if (start === -1 || end < start) return "";
  const plan = parseJson(body.slice(start, end + 1));
  return isObject(plan) ? str(plan.sql) : "";
}
