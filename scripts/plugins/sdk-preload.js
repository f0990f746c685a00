// Loaded first by both plugins (the provider requires it; the language host preloads it into the
// program with `node --require`). It takes SDK costs that a hosttune run does not need off a fleet
// run's critical path (both plugins' starts and the program's registrations are on it):
// - TypeScript (about half a second of CPU at start), npm's Arborist (about a third), the rest of
//   the SDK's closure serialization, its Automation API and OpenTelemetry's tracing SDK load on
//   first use: neither a provider plugin nor hosttune's program serializes a closure or drives
//   the CLI, and only a run with `--tracing` traces. A program that does still gets them.
// - The SDK's debug messages (three gRPC calls to the engine per resource, sent one after another)
//   are dropped unless the CLI shows or logs them (`--debug`, `-v`, ...: bin/pulumi then sets
//   HOSTTUNE_SDK_DEBUG).
// - The stack the SDK takes for each promise, formatted through source maps, is taken only when
//   PULUMI_DEBUG_PROMISE_LEAKS asks for it (the only reader).
// Installed beside the plugins by scripts/toolchain.sh.
"use strict";
const { Module, createRequire } = require("node:module");
const path = require("node:path");

// `esModule`: the SDK imports it with `__importStar`, which would copy (and so load) every export
// unless told it is an ES module. `functions`: exports the SDK reads as it loads (to re-export
// them), given as stand-ins that load the module when called.
function lazy(file, esModule, functions = []) {
  let real;
  const load = () => {
    if (!real) {
      delete require.cache[file];
      real = require(file);
    }
    return real;
  };
  const m = new Module(file);
  m.filename = file;
  m.loaded = true;
  m.exports = new Proxy(
    {},
    {
      get: (_, k) =>
        esModule && k === "__esModule" ? true : functions.includes(k) ? (...args) => load()[k](...args) : load()[k],
      has: (_, k) => k in load(),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_, k) => Object.getOwnPropertyDescriptor(load(), k),
    },
  );
  require.cache[file] = m;
}

// Changes to an SDK module's exports, made as it loads. The SDK reads them as properties of the
// module's exports object at each call, so a replaced function is the one called.
function onLoad(patches) {
  const loadJs = Module._extensions[".js"];
  Module._extensions[".js"] = function (module, filename) {
    loadJs.call(this, module, filename);
    patches[filename]?.(module.exports);
  };
}

// The SDK of the program's project (plugins start in its folder); none: the caller says so.
try {
  const sdk = path.dirname(createRequire(path.join(process.cwd(), "noop.js")).resolve("@pulumi/pulumi/package.json"));
  lazy(path.join(sdk, "typescript-shim.js"), false);
  lazy(createRequire(path.join(sdk, "runtime", "closure", "codePaths.js")).resolve("@npmcli/arborist"), true);
  lazy(path.join(sdk, "runtime", "closure", "serializeClosure.js"), true, [
    "serializeFunction",
    "serializeFunctionAsync",
  ]);
  lazy(path.join(sdk, "runtime", "closure", "codePaths.js"), true, ["computeCodePaths"]);
  lazy(path.join(sdk, "automation", "index.js"), true);
  // The program runner loads OpenTelemetry's SDK for its tracing (cmd/run/tracing.js), which only
  // a run with `--tracing` starts; without it, the runner's spans need only OpenTelemetry's API.
  const fromTracing = createRequire(path.join(sdk, "cmd", "run", "tracing.js"));
  for (const m of ["resources", "sdk-trace-base", "sdk-trace-node", "exporter-zipkin", "instrumentation-grpc"])
    lazy(fromTracing.resolve(`@opentelemetry/${m}`), true);
  onLoad({
    [path.join(sdk, "log", "index.js")]: (log) => {
      if (!process.env.HOSTTUNE_SDK_DEBUG) log.debug = () => Promise.resolve();
    },
    [path.join(sdk, "runtime", "debuggable.js")]: (debuggable) => {
      if (debuggable.debugPromiseLeaks) return;
      const withStack = debuggable.debuggablePromise;
      debuggable.debuggablePromise = (p, ctx) => {
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 0;
        try {
          return withStack(p, ctx);
        } finally {
          Error.stackTraceLimit = limit;
        }
      };
    },
  });
} catch {}
