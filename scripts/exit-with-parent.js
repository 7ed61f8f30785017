"use strict";
// Preloaded (--require) into the Node-RED processes scripts/nodered.js starts: their stdin is a pipe from the
// process that started them, so when that process is gone, even killed, Node-RED stops too.
process.stdin.on("end", () => process.kill(process.pid, "SIGTERM"));
process.stdin.on("error", () => process.kill(process.pid, "SIGTERM"));
process.stdin.resume();
