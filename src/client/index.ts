/** The DB-GPT client: framework-free, no Node-RED import anywhere in src/client. */
export { DbgptClient, HISTORY_MODES, isAgentApp, normalizeBaseUrl } from "./client";
export { stoppedChatResult } from "./chat";
export { SecretMask } from "./masking";
export * from "./artifacts";
export * from "./errors";
export * from "./api";
export type * from "./wire";
