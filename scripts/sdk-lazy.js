// Loaded first by both plugins (the provider requires it; the language host preloads it into the
// program with `node --require`): two of the SDK's eager dependencies load on first use instead
// of at start. Its runtime loads TypeScript (about half a second of CPU here) and npm's Arborist
// (about a third) for serializing closures, which neither a provider plugin nor hosttune's
// program does; both starts are on a fleet preview's critical path. A program that does
// serialize a function still gets them, when it first does. Installed beside the plugins by
// scripts/toolchain.sh.
"use strict";
const { Module, createRequire } = require("node:module");
const path = require("node:path");

// `esModule`: the SDK imports it with `__importStar`, which would copy (and so load) every export
// unless told it is an ES module.
function lazy(file, esModule) {
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
      get: (_, k) => (esModule && k === "__esModule" ? true : load()[k]),
      has: (_, k) => k in load(),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_, k) => Object.getOwnPropertyDescriptor(load(), k),
    },
  );
  require.cache[file] = m;
}

// The SDK of the program's project (plugins start in its folder); none: the caller says so.
try {
  const sdk = path.dirname(createRequire(path.join(process.cwd(), "noop.js")).resolve("@pulumi/pulumi/package.json"));
  lazy(path.join(sdk, "typescript-shim.js"), false);
  lazy(createRequire(path.join(sdk, "runtime", "closure", "codePaths.js")).resolve("@npmcli/arborist"), true);
} catch {}
