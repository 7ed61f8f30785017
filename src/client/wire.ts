/**
 * Types of what a DB-GPT server sends and accepts on its v2 App/Chat API (see dbgpt-api.md).
 * Only the fields the client reads are typed strictly; the rest pass through untouched.
 */

/** The `Result` envelope of the apps endpoints and of every error before a stream starts. */
export interface ResultEnvelope<T> {
  success: boolean;
  err_code: string | null;
  err_msg: string | null;
  data: T;
}

/** An app exactly as the server returns it (many more fields pass through untouched). */
export interface App {
  app_code: string;
  app_name?: string;
  app_describe?: string;
  team_mode?: string;
  team_context?: unknown;
  [key: string]: unknown;
}

export interface AppListData {
  total_count: number;
  total_page: number;
  current_page: number;
  app_list: App[];
}

export interface ModelInstance {
  model_name: string;
  worker_type: string;
  healthy?: boolean;
  [key: string]: unknown;
}

/** A serve endpoint's page (`PaginationResult`, dbgpt-api.md §10). */
export interface PaginationResult<T> {
  items: T[];
  total_count: number;
  total_pages: number;
  page: number;
  page_size: number;
}

/** A knowledge space (GET /api/v2/serve/knowledge/spaces); chat_knowledge's chat_param is its `name`. */
export interface KnowledgeSpace {
  id: number | string;
  name: string;
  vector_type?: string;
  domain_type?: string;
  desc?: string | null;
  owner?: string | null;
  [key: string]: unknown;
}

/** A flow (FlowPanel, GET /api/v2/serve/awel/chat/flows); chat_flow's chat_param is its `uid`. */
export interface FlowPanel {
  uid: string;
  label?: string | null;
  name?: string | null;
  description?: string | null;
  flow_category?: string | null;
  [key: string]: unknown;
}

/** A datasource (GET /api/v2/serve/datasources); the database modes' chat_param is its `db_name`. */
export interface Datasource {
  id: number | string;
  db_type: string;
  db_name: string;
  db_path?: string | null;
  db_host?: string | null;
  db_port?: number | null;
  db_user?: string | null;
  comment?: string | null;
  [key: string]: unknown;
}

/** The request body of POST /api/v2/chat/completions as this client sends it. */
export interface ChatCompletionRequestBody {
  model: string;
  messages: string;
  stream: boolean;
  chat_mode: string;
  chat_param?: string;
  conv_uid?: string;
  temperature: number | null;
  max_new_tokens?: number;
  max_tokens?: number;
  user_name?: string;
  sys_code?: string;
}

export interface DeltaChoice {
  index: number;
  delta: { role?: string; content?: string | null; reasoning_content?: string | null };
  finish_reason?: string | null;
}

export interface MessageChoice {
  index: number;
  message: { role?: string; content?: string | null; reasoning_content?: string | null };
  finish_reason?: string | null;
}

/** One `data:` JSON event of a stream: delta chunks, `incremental:false` snapshots, or a flow error. */
export interface StreamChunk {
  id?: string;
  model?: string;
  created?: number;
  choices?: Array<DeltaChoice | MessageChoice>;
  usage?: Usage | Record<string, never>;
  error_code?: number;
  text?: string;
}

export interface Usage {
  prompt_tokens?: number;
  total_tokens?: number;
  completion_tokens?: number;
  [key: string]: unknown;
}

/** A non-stream chat answer. */
export interface ChatCompletionResponse {
  id: string;
  object?: string;
  created?: number;
  model: string;
  choices: MessageChoice[];
  usage?: Usage;
}

/** The OpenAI-style error of a failed non-stream chat_flow call (HTTP 400). */
export interface FlowErrorResponse {
  object: "error";
  message: string;
  code: number;
}

/** One entry of a ```agent-messages block. */
export interface AgentMessage {
  sender?: string;
  receiver?: string;
  model?: string;
  markdown?: string;
  resource?: unknown;
  [key: string]: unknown;
}

/** One entry of a ```agent-plans block; its markdown nests an agent-messages block. */
export interface AgentPlan {
  name?: string;
  num?: number;
  status?: string;
  agent?: string;
  markdown?: string;
  [key: string]: unknown;
}
