"use strict";
/**
 * Node-RED's adminAuth for the tests that check the admin endpoints behind it:
 *
 *   adminAuthSettings(password, users)     the `adminAuth` setting: { username: permissions }, one password
 *   adminToken(adminUrl, username, password)  an access token for a user (asserts the login worked)
 *   bearer(token)                          the Authorization header that carries it
 */
const assert = require("node:assert/strict");
const bcrypt = require("bcryptjs");
const { httpRequest } = require("./http");

/** The `adminAuth` setting for credentials users who share `password`: { username: permissions }. */
function adminAuthSettings(password, users) {
  const hash = bcrypt.hashSync(password, 8);
  return {
    type: "credentials",
    users: Object.entries(users).map(([username, permissions]) => ({
      username,
      password: hash,
      permissions,
    })),
  };
}

/**
 * A token with the user's own permissions (scope "": Node-RED grants what the user has), from the admin API
 * at `adminUrl` (the runtime's URL plus its httpAdminRoot).
 */
async function adminToken(adminUrl, username, password) {
  const res = await httpRequest(`${adminUrl}/auth/token`, {
    method: "POST",
    body: { client_id: "node-red-admin", grant_type: "password", scope: "", username, password },
  });
  assert.equal(res.status, 200, res.text);
  return res.json.access_token;
}

function bearer(token) {
  return { authorization: `Bearer ${token}` };
}

module.exports = { adminAuthSettings, adminToken, bearer };
