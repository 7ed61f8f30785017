/**
 * From a dbgpt-config's settings (deployed, or the editor dialog's current values) to the client's options:
 * `${ENV_VAR}` references, base URL normalisation, the idle timeout, the deadline and the tls-config node.
 */
import {
  DbgptClient,
  invalidInputError,
  normalizeBaseUrl,
  type ClientOptions,
  type TlsOptions,
} from "../../client";
import { parseNonNegativeNumber, parseProperty } from "./inputs";
import type { Node, NodeAPI } from "./red";

export const DEFAULT_BASE_URL = "http://localhost:5670";
export const DEFAULT_TIMEOUT_SECONDS = 120;

export interface ServerSettings {
  baseUrl?: unknown;
  apiKey?: unknown;
  /** Idle timeout in seconds (fractions allowed, 0 = none). */
  timeout?: unknown;
  /** Total time per request in seconds (fractions allowed, 0 = none). */
  deadline?: unknown;
  /** Id of a tls-config node. */
  tls?: unknown;
}

/** Something to tell the user once (never containing a value of the key): the editor words it by `key`. */
export interface ConnectionWarning {
  key: string;
  params: Record<string, string>;
  message: string;
}

export interface ResolvedConnection {
  /** Everything but the TLS material (see tlsOptionsOf). */
  options: ClientOptions;
  warnings: ConnectionWarning[];
}

/** Looks up one environment variable (Node-RED's env: flow, group, then process). */
export type EnvLookup = (name: string) => string | undefined;

const ENV_REFERENCE = /^\$\{(\S+)\}$/;

export function envLookupFor(RED: NodeAPI, node: Node | undefined): EnvLookup {
  return (name) => {
    const value: unknown = RED.util.getSetting(node as Node, name);
    return typeof value === "string"
      ? value
      : value === undefined || value === null
        ? undefined
        : String(value);
  };
}

/** Resolves a whole-value `${NAME}` reference; other values come back as they are. */
function resolveEnv(value: string, lookup: EnvLookup): { value: string | undefined; variable?: string } {
  const match = ENV_REFERENCE.exec(value.trim());
  if (!match) return { value };
  return { value: lookup(match[1]), variable: match[1] };
}

export function resolveConnection(settings: ServerSettings, lookup: EnvLookup): ResolvedConnection {
  const warnings: ConnectionWarning[] = [];

  const rawUrl =
    typeof settings.baseUrl === "string" && settings.baseUrl.trim() !== "" ? settings.baseUrl : "";
  if (rawUrl === "") throw invalidInputError("the DB-GPT base URL is empty");
  const url = resolveEnv(rawUrl, lookup);
  if (url.value === undefined || url.value.trim() === "") {
    throw invalidInputError(
      `the DB-GPT base URL refers to the environment variable ${url.variable}, which is not set`,
    );
  }
  const normalized = normalizeBaseUrl(url.value);
  if (normalized.warning !== undefined && normalized.apiSuffix !== undefined) {
    const params = { suffix: normalized.apiSuffix, url: normalized.url };
    warnings.push({ key: "warnings.api-suffix", params, message: normalized.warning });
  }

  let apiKey: string | undefined;
  if (typeof settings.apiKey === "string" && settings.apiKey !== "") {
    const key = resolveEnv(settings.apiKey, lookup);
    if (key.value === undefined) {
      const variable = key.variable as string;
      warnings.push({
        key: "warnings.key-env-unset",
        params: { variable },
        message: `the API key refers to the environment variable ${variable}, which is not set: no key is sent`,
      });
    } else if (key.value !== "") {
      apiKey = key.value;
    }
  }

  const seconds = parseProperty("timeout", settings.timeout, parseNonNegativeNumber, DEFAULT_TIMEOUT_SECONDS);
  const idleTimeoutMs = seconds === 0 ? 0 : Math.max(1, Math.round(seconds * 1000));

  const deadline = parseProperty("deadline", settings.deadline, parseNonNegativeNumber, 0);

  const options: ClientOptions = { baseUrl: normalized.url, idleTimeoutMs };
  if (deadline > 0) options.deadlineMs = Math.max(1, Math.round(deadline * 1000));
  if (apiKey !== undefined) options.apiKey = apiKey;
  return { options, warnings };
}

/** What a Node-RED tls-config node fills in (core/network/05-tls.js, addTLSOptions): Node's own names. */
type NodeRedTlsOptions = Omit<TlsOptions, "alpnProtocols"> & { ALPNProtocols?: string[] };

interface TlsConfigNode {
  addTLSOptions(opts: NodeRedTlsOptions): NodeRedTlsOptions;
}

/** A client for resolved options plus the tls-config node `tlsId` (looked up now, when it is used). */
export function createClient(RED: NodeAPI, options: ClientOptions, tlsId: unknown): DbgptClient {
  const tls = tlsOptionsOf(RED, tlsId);
  return new DbgptClient(tls ? { ...options, tls } : options);
}

/** Looks up the tls-config node (when one is set) and turns its settings into the client's TLS options. */
function tlsOptionsOf(RED: NodeAPI, tlsId: unknown): TlsOptions | undefined {
  if (typeof tlsId !== "string" || tlsId === "") return undefined;
  const tlsNode = RED.nodes.getNode(tlsId) as unknown as Partial<TlsConfigNode> | null;
  if (!tlsNode || typeof tlsNode.addTLSOptions !== "function") {
    throw invalidInputError(`the TLS configuration ${tlsId} is missing, disabled or not deployed`);
  }
  const { ALPNProtocols, rejectUnauthorized, ...material } = tlsNode.addTLSOptions({});
  const tls: TlsOptions = { ...material };
  if (typeof rejectUnauthorized === "boolean") tls.rejectUnauthorized = rejectUnauthorized;
  if (ALPNProtocols !== undefined) tls.alpnProtocols = ALPNProtocols;
  return tls;
}
