// A plugin's lifeline to the CLI that started it. The CLI may die without a word (killed, out of
// memory), even before the plugin has started; nobody will then call or stop the plugin. It stops
// once its engine no longer listens (the engine's address is the plugin's first argument), or it
// has been given another parent. Installed beside the plugins by scripts/toolchain.sh.
"use strict";
const net = require("node:net");

/**
 * Calls `stop` once the engine at `address` ("host:port"; none: the parent alone) is gone, or
 * `parent` is no longer ours. Given by the starter, `parent` holds even if the starter died before
 * this ran (we would already have another parent).
 */
module.exports = function lifeline(address, stop, parent = process.ppid) {
  const colon = address.lastIndexOf(":");
  const [host, port] = [address.slice(0, colon), Number(address.slice(colon + 1))];
  const check = () => {
    if (process.ppid !== parent) return stop();
    if (!host || !port) return;
    const s = net.connect({ host, port }, () => s.destroy());
    // Refused: nothing listens there any more. A slow answer on a busy machine is not an answer.
    s.on("error", (e) => e.code === "ECONNREFUSED" && stop());
  };
  setInterval(check, 1000).unref();
};
