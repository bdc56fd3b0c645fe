/**
 * The "language host" of the e2e engine: runs one Pulumi program in this fresh process under
 * `pulumi.runtime.setMocks`, but answers every `RegisterResource` from the engine in the parent
 * process, which executes the resource for real and returns its outputs. Started by engine.ts with
 * `fork` and the tsx loader; never run directly.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as settings from "@pulumi/pulumi/runtime/settings";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import * as resproto from "@pulumi/pulumi/proto/resource_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import type { EngineMessage, HostMessage, Registration, StartMessage } from "./protocol";
import type { WireMap } from "./wire";

type Reply = { resolve(v: { resourceId: string; outputs: WireMap }): void; reject(e: Error): void };
const pending = new Map<number, Reply>();
let nextId = 0;

function send(message: HostMessage): void {
  process.send!(message);
}

function fail(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  process.send!({ kind: "failed", message } satisfies HostMessage, () => process.exit(1));
}

/** Asks the engine to run one registration; resolves with what the provider returned. */
function register(registration: Registration): Promise<{ resourceId: string; outputs: WireMap }> {
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    send({ kind: "register", id, registration });
  });
}

function registrationOf(req: resproto.RegisterResourceRequest, urn: string): Registration {
  const propertyDependencies: string[] = [];
  req.getPropertydependenciesMap().forEach((deps) => propertyDependencies.push(...deps.getUrnsList()));
  const timeouts = req.getCustomtimeouts();
  return {
    urn,
    type: req.getType(),
    name: req.getName(),
    custom: req.getCustom(),
    parent: req.getParent(),
    dependencies: [...new Set([...req.getDependenciesList(), ...propertyDependencies])],
    inputs: (req.getObject()?.toJavaScript() ?? {}) as WireMap,
    deletedWith: req.getDeletedwith(),
    deleteBeforeReplace: req.getDeletebeforereplace(),
    retainOnDelete: req.getRetainondelete() ?? false,
    protect: req.getProtect() ?? false,
    ignoreChanges: req.getIgnorechangesList(),
    replaceOnChanges: req.getReplaceonchangesList(),
    additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    customTimeouts: {
      create: timeouts?.getCreate() ?? "",
      update: timeouts?.getUpdate() ?? "",
      delete: timeouts?.getDelete() ?? "",
    },
    aliasCount: req.getAliasesList().length + req.getAliasurnsList().length,
  };
}

async function run(start: StartMessage): Promise<void> {
  pulumi.runtime.setAllConfig(start.config, [...start.secretKeys]);
  await pulumi.runtime.setMocks(
    {
      newResource() {
        throw new Error("e2e engine: reading existing resources (`.get`) is not supported");
      },
      call(args) {
        throw new Error(`e2e engine: invoke '${args.token}' is not supported`);
      },
    },
    start.project,
    start.stack,
    false,
  );

  // The mock monitor's registerResource, with the mocks' answer replaced by the engine's.
  const monitor = settings.getMonitor() as any;
  monitor.registerResource = async (req: resproto.RegisterResourceRequest, callback: (err: any, res?: any) => void) => {
    try {
      const urn: string = monitor.newUrn(req.getParent(), req.getType(), req.getName());
      const { resourceId, outputs } = await register(registrationOf(req, urn));
      monitor.resources.set(urn, { urn, id: resourceId || null, state: outputs });
      const response = new resproto.RegisterResourceResponse();
      response.setUrn(urn);
      response.setId(resourceId);
      response.setObject(structproto.Struct.fromJavaScript(outputs as any));
      callback(null, response);
    } catch (err) {
      callback(err);
    }
  };

  const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResourceOutputs = (req: resproto.RegisterResourceOutputsRequest, callback: (err: any, res?: any) => void) => {
    send({ kind: "outputs", urn: req.getUrn(), outputs: (req.getOutputs()?.toJavaScript() ?? {}) as WireMap });
    registerOutputs(req, callback);
  };

  // Like Pulumi's Node.js language host: the module's exports are the stack outputs, unless the
  // module is a function (`export = async () => {...}`) or default-exports one: then its result is.
  const exported = require(path.resolve(start.program));
  const main = typeof exported === "function" ? exported : typeof exported?.default === "function" ? exported.default : undefined;
  const result = main ? await main() : exported;
  const outputs = (await rpc.serializeProperties("stack outputs", result ?? {})) as WireMap;
  // Every registration answered (the SDK's own drain; internal, so not in its typings).
  await (settings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  process.send!({ kind: "done", outputs } satisfies HostMessage, () => process.exit(0));
}

process.on("message", (message: EngineMessage) => {
  switch (message.kind) {
    case "start":
      run(message).catch(fail);
      break;
    case "registered":
      pending.get(message.id)?.resolve(message);
      pending.delete(message.id);
      break;
    case "rejected":
      pending.get(message.id)?.reject(new Error(message.message));
      pending.delete(message.id);
      break;
  }
});
// A failed resource rejects the outputs of everything built on it; like the real language host,
// the first such error fails the program.
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
// The engine going away (killed, interrupted) ends the program.
process.on("disconnect", () => process.exit(1));
