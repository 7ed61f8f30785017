"use strict";
// Emulator fault specs that more than one suite needs.
const { APPS_PATH } = require("../../emulator");

/** The app list answers one page of `apps` with `totalCount` as total_count (any value, bad ones too). */
function appPageFault(apps, totalCount) {
  const body = JSON.stringify({
    success: true,
    err_code: null,
    err_msg: null,
    data: { app_list: apps, total_count: totalCount, total_page: 1, current_page: 1, page_size: 100 },
  });
  return { match: { path: APPS_PATH }, status: { status: 200, contentType: "application/json", body } };
}

/** DB-GPT's failure envelope with `errCode` and `errMsg`, answered with HTTP `status` (spread into a fault). */
function failureAnswer(status, errCode, errMsg) {
  const body = JSON.stringify({ success: false, err_code: errCode, err_msg: errMsg, data: null });
  return { status: { status, contentType: "application/json", body } };
}

module.exports = { appPageFault, failureAnswer };
