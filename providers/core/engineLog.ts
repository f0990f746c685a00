// Warnings shown with the run's diagnostics (as `pulumi.log.warn` does in a program), sent from
// the dynamic provider's process, where the SDK's logger is not wired up: the plugin
// (scripts/plugins/pulumi-resource-pulumi-nodejs) keeps the engine's address, given as its first argument
// or, attached, by the engine's Attach. Anywhere else (a unit test): stderr.
import { createRequire } from "node:module";

interface LogRequest {
  setSeverity(s: number): void;
  setMessage(m: string): void;
  setUrn(u: string): void;
}
interface Engine {
  log(r: LogRequest, done: (err: Error | null) => void): void;
  getRootResource(r: unknown, done: (err: Error | null, res?: { getUrn(): string }) => void): void;
}

// The SDK's own gRPC and protocol modules, as it resolves them.
const sdk = createRequire(require.resolve("@pulumi/pulumi/package.json"));
let engine: Engine | null | undefined;
const said = new Set<string>();

function connect(): Engine | null {
  const address = (globalThis as Record<symbol, string | undefined>)[Symbol.for("hosttune.engineAddress")];
  if (!address) return null;
  const grpc = sdk("@grpc/grpc-js");
  const { EngineClient } = sdk("./proto/engine_grpc_pb.js");
  return new EngineClient(address, grpc.credentials.createInsecure());
}

/** Shows `message` as a warning of this run, once per provider process. */
export async function warnOnce(message: string): Promise<void> {
  if (said.has(message)) return;
  said.add(message);
  engine ??= connect();
  if (!engine) {
    console.error(`warning: ${message}`);
    return;
  }
  const e = engine;
  const { GetRootResourceRequest, LogRequest, LogSeverity } = sdk("./proto/engine_pb.js");
  // On the stack itself: the CLI shows a message of no resource in no view.
  const root = await new Promise<string>((done) =>
    e.getRootResource(new GetRootResourceRequest(), (err, res) => done(err ? "" : (res?.getUrn() ?? ""))),
  );
  const r: LogRequest = new LogRequest();
  r.setSeverity(LogSeverity.WARNING);
  r.setMessage(message);
  r.setUrn(root);
  await new Promise<void>((done) =>
    e.log(r, (err) => {
      if (err) console.error(`warning: ${message}`);
      done();
    }),
  );
}
