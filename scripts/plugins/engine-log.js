// What a plugin prints, as the engine's log: the engine shows, among the run's messages, each line
// a plugin it started prints, but does not read the output of a plugin it attached to (the ones
// bin/pulumi serves). Those send their lines here. Installed beside the plugins by
// scripts/toolchain.sh.
"use strict";
const { createRequire } = require("node:module");
const path = require("node:path");

/**
 * Lines to the log of the engine at `address()` (read at each line), through the SDK in `sdkDir`.
 * `write(text, stream)` takes output as it comes (a partial line waits for its end); each stream
 * (0: stdout, 1: stderr) of `id` is a stream of its own in the run's messages. `end()` sends what
 * is left and resolves once every line is in. A line the engine refuses goes to
 * `refused(line, stream)`.
 */
module.exports = function engineLog(sdkDir, address, refused, id) {
  const fromSdk = createRequire(path.join(sdkDir, "package.json"));
  const { credentials } = fromSdk("@grpc/grpc-js");
  const engproto = fromSdk("./proto/engine_pb");
  const { EngineClient } = fromSdk("./proto/engine_grpc_pb");
  let client;
  let sent = Promise.resolve();
  const rest = ["", ""];
  const send = (line, stream) => {
    const at = address();
    if (client?.at !== at) client = { at, engine: new EngineClient(at, credentials.createInsecure()) };
    const { engine } = client;
    const req = new engproto.LogRequest()
      .setSeverity(engproto.LogSeverity.INFO)
      .setMessage(line)
      .setStreamid(2 * id + stream);
    sent = sent.then(() => new Promise((done) => engine.log(req, (err) => (err && refused(line, stream), done()))));
  };
  return {
    write(text, stream) {
      const parts = (rest[stream] + text).split(/(?<=\n)/);
      rest[stream] = parts.at(-1).endsWith("\n") ? "" : parts.pop();
      for (const line of parts) if (line.trim()) send(line, stream);
    },
    end() {
      for (const stream of [0, 1]) if (rest[stream].trim()) send(rest[stream], stream);
      rest.fill("");
      return sent.finally(() => client?.engine.close());
    },
  };
};
