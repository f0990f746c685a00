// The provider module the engine keeps in every resource's state (`__provider`), as the SDK's
// dynamic provider loads it (`require` of its text, then `handler()`). hosttune writes it by hand
// rather than have the SDK serialize a closure: the text is a few lines, not 2.4 KB twice per
// resource in state (inputs and outputs), and the program needs neither TypeScript nor a
// closure's analysis at start. It holds no captured state: it loads the compiled implementation
// at run time, so code changes neither churn `__provider` nor leave read/delete running stale
// code from state, and the SSH pool lives in one module instance per deployment.

/** The module text for one kind; the same string for every resource of that kind. */
export function providerSource(kind: string): string {
  // Runs in the dynamic-provider process, whose cwd is the program's folder: hosttune is found
  // from the program's own dependencies (or as itself, through package.json "exports").
  return `exports.handler = () => {
  const from = require("module").createRequire(require("path").join(process.cwd(), "__hosttune__.js"));
  let registry;
  try {
    registry = from("hosttune/provider");
  } catch (e) {
    throw new Error("cannot load hosttune's provider from " + process.cwd() + ": " + e.message);
  }
  return registry.provider(${JSON.stringify(kind)});
};
`;
}
