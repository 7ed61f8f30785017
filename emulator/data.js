"use strict";
// The emulator's default server contents: apps (dbgpt-api.md §8, list form), model instances (§10),
// and the knowledge spaces, flows and databases it knows (§10).

const APP_CODES = {
  singleAgent: "a1b2c3d4-0000-4000-8000-000000000025",
  autoPlan: "a1b2c3d4-0000-4000-8000-000000000024",
  awelLayout: "a1b2c3d4-0000-4000-8000-000000000023",
  native: "chat_normal",
};

function stamp(day) {
  return `2025-01-${String(day).padStart(2, "0")}T03:04:05`;
}

function detail(app, agentName, nodeId, llm, resources) {
  return {
    app_code: app.app_code,
    app_name: app.app_name,
    agent_name: agentName,
    node_id: nodeId,
    resources,
    prompt_template: null,
    llm_strategy: llm ? "priority" : "default",
    // List form: comma-joined (the detail endpoint sends the stored JSON string instead).
    llm_strategy_value: llm,
    created_at: app.created_at,
    updated_at: app.updated_at,
  };
}

function app(fields) {
  const base = {
    app_code: fields.app_code,
    app_name: fields.app_name,
    app_describe: fields.app_describe,
    team_mode: fields.team_mode,
    language: fields.language || "en",
    team_context: fields.team_context === undefined ? null : fields.team_context,
    user_code: fields.user_code === undefined ? "dbgpt" : fields.user_code,
    sys_code: fields.sys_code === undefined ? "dbgpt" : fields.sys_code,
    is_collected: fields.is_collected || "false",
    icon: null,
    created_at: fields.created_at,
    updated_at: fields.created_at,
    details: [],
    published: "true",
    user_name: null,
    user_icon: null,
    hot_value: 0,
    param_need: fields.param_need === undefined ? null : fields.param_need,
    owner_name: fields.user_code === undefined ? "dbgpt" : fields.user_code,
    owner_avatar_url: null,
    recommend_questions: [],
    admins: [],
    keep_start_rounds: 0,
    keep_end_rounds: 2,
  };
  base.details = (fields.agents || []).map(([agent, llm, resources], i) =>
    detail(base, agent, `agent_${i + 1}`, llm, resources || []),
  );
  return base;
}

function buildApps() {
  const apps = [];
  const knowledge = {
    type: "knowledge",
    value: "1",
    name: "default_space",
    is_dynamic: false,
    context: null,
    version: "v2",
  };
  const database = {
    type: "database",
    value: "dbgpt_test",
    name: "dbgpt_test",
    is_dynamic: false,
    context: null,
    version: "v2",
  };

  const assistant = app({
    app_code: APP_CODES.singleAgent,
    app_name: "Emulator Assistant",
    app_describe: "A single agent app that answers questions",
    team_mode: "single_agent",
    created_at: stamp(25),
    agents: [["Assistant", "chatgpt_proxyllm,gpt-4o", [knowledge]]],
  });
  assistant.recommend_questions = [
    {
      id: 1,
      app_code: APP_CODES.singleAgent,
      question: "What can you do?",
      user_code: "dbgpt",
      sys_code: "dbgpt",
      gmt_create: stamp(25),
      gmt_modified: stamp(25),
      params: null,
      valid: "true",
      chat_mode: "chat_agent",
      is_hot_question: "false",
    },
  ];
  apps.push(assistant);
  apps.push(
    app({
      app_code: APP_CODES.autoPlan,
      app_name: "Report Planner",
      app_describe: "Plans a report and hands the steps to two agents",
      team_mode: "auto_plan",
      created_at: stamp(24),
      is_collected: "true",
      agents: [
        ["DataScientist", "gpt-4o", [database]],
        ["Summarizer", "gpt-4o", []],
      ],
    }),
  );
  apps.push(
    app({
      app_code: APP_CODES.awelLayout,
      app_name: "Flow Chat App",
      app_describe: "An app backed by the AWEL chat flow flow-1",
      team_mode: "awel_layout",
      created_at: stamp(23),
      team_context: {
        dag_id: "flow_dag_flow-1",
        uid: "flow-1",
        name: "flow-1",
        label: "Flow 1",
        version: "0.1.0",
        description: "A chat flow",
        editable: true,
        state: "running",
        user_name: null,
        sys_code: null,
        flow_category: "chat_flow",
      },
    }),
  );
  for (let day = 22; day >= 7; day--) {
    const num = String(day).padStart(2, "0");
    apps.push(
      app({
        app_code: `a1b2c3d4-0000-4000-8000-0000000000${num}`,
        app_name: `Demo App ${num}`,
        app_describe: `Demo agent app number ${num}`,
        team_mode: day % 3 === 0 ? "auto_plan" : "single_agent",
        language: day % 2 === 0 ? "en" : "zh",
        created_at: stamp(day),
        agents: [["ToolExpert", day % 2 === 0 ? "gpt-4o" : null, []]],
      }),
    );
  }
  const natives = [
    ["chat_excel", "Chat Excel", "Chat with an Excel file", "excel_file"],
    ["chat_dashboard", "Chat Dashboard", "Build a dashboard from a database", "database"],
    ["chat_with_db_execute", "Chat Data", "Ask questions of a database", "database"],
    ["chat_with_db_qa", "Chat DB", "Ask about a database's schema", "database"],
    ["chat_knowledge", "Chat Knowledge", "Ask a knowledge space", "knowledge"],
    ["chat_normal", "Chat Normal", "Native LLM dialogue", null],
  ];
  for (const [code, name, describe, resource] of natives) {
    const needs = [
      { type: "model", value: null },
      { type: "temperature", value: null },
      { type: "max_new_tokens", value: null },
    ];
    if (resource) needs.push({ type: "resource", value: resource });
    apps.push(
      app({
        app_code: code,
        app_name: name,
        app_describe: describe,
        team_mode: "native_app",
        created_at: "2025-01-01T00:00:00",
        user_code: null,
        sys_code: null,
        param_need: needs,
        team_context: {
          chat_scene: code,
          scene_name: name,
          scene_describe: describe,
          param_title: "",
          show_disable: false,
        },
      }),
    );
  }
  return apps;
}

function model(name, workerType) {
  return {
    model_name: name,
    worker_type: workerType,
    host: "127.0.0.1",
    port: 5670,
    manager_host: "127.0.0.1",
    manager_port: 5670,
    healthy: true,
    check_healthy: true,
    last_heartbeat: "2025-01-01T00:00:00",
    prompt_template: null,
  };
}

const DEFAULT_APPS = Object.freeze(buildApps());
const DEFAULT_MODELS = Object.freeze([
  model("chatgpt_proxyllm", "llm"),
  model("gpt-4o", "llm"),
  model("deepseek-reasoner", "llm"),
  model("text2vec-large-chinese", "text2vec"),
]);
// Knowledge spaces (SpaceServeResponse), flows (FlowPanel) and datasources as §10's routes send them.
// A name alone (configure({ knowledgeSpaces: ["x"] })) becomes a full object through these.
function knowledgeSpace(name, id = 1, desc = null) {
  return {
    id,
    name,
    vector_type: "Chroma",
    domain_type: "Normal",
    desc,
    owner: "dbgpt",
    user_id: null,
    context: null,
    gmt_created: stamp(1),
    gmt_modified: stamp(1),
  };
}

function flow(uid, label = null, flowCategory = "chat_flow", description = null) {
  return {
    uid,
    label,
    name: uid,
    flow_category: flowCategory,
    description,
    state: "running",
    error_message: null,
    source: "DBGPT-WEB",
    version: "0.1.0",
    editable: true,
    user_name: null,
    sys_code: null,
    dag_id: `flow_dag_${uid}`,
    gmt_created: stamp(1),
    gmt_modified: stamp(1),
    metadata: null,
    variables: null,
    flow_data: null,
  };
}

function database(dbName, dbType = "mysql", id = 1, comment = null) {
  const file = dbType === "sqlite" || dbType === "duckdb";
  return {
    id,
    db_type: dbType,
    db_name: dbName,
    db_path: file ? `/data/${dbName}.db` : null,
    db_host: file ? null : "127.0.0.1",
    db_port: file ? null : 3306,
    db_user: file ? null : "root",
    comment,
    gmt_created: stamp(1),
    gmt_modified: stamp(1),
  };
}

const KNOWLEDGE_SPACES = Object.freeze([
  knowledgeSpace("default_space", 1, "The default knowledge space"),
  knowledgeSpace("product_docs", 2),
]);
const FLOWS = Object.freeze([
  flow("flow-1", "Flow 1", "chat_flow", "A chat flow"),
  flow("agent-flow-2", null, "chat_agent"),
  flow("etl-flow-3", "ETL flow", "common"), // not chat-capable: left out of /chat/flows
]);
const DATABASES = Object.freeze([
  database("dbgpt_test", "mysql", 1, "The test database"),
  database("sales", "sqlite", 2),
]);

module.exports = {
  DEFAULT_APPS,
  DEFAULT_MODELS,
  APP_CODES,
  KNOWLEDGE_SPACES,
  FLOWS,
  DATABASES,
  knowledgeSpace,
  flow,
  database,
};
