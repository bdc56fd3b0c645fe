/**
 * The pack as the Pulumi CLI runs it: `policy/index.ts` starts @pulumi/policy's analyzer server, and
 * this test speaks the engine's side of the gRPC protocol to it on loopback (GetAnalyzerInfo, Remediate
 * and Analyze per resource, AnalyzeStack). It shows the pack loads and serves, that blocking really
 * blocks, and that the CLI-free harness reports exactly what the server reports.
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { RecordedResource } from "../../test/mocks";
import { Violation, runPolicies, withEngineUrns } from "../../test/support/policy-harness";
import { policies } from "../policies";
import { build, resource, safeLab, unsafeLab } from "./fixtures";

const pb = require("@pulumi/pulumi/proto/analyzer_pb");
const { AnalyzerClient } = require("@pulumi/pulumi/proto/analyzer_grpc_pb");

const REPO = path.resolve(__dirname, "../..");
const LEVELS = ["advisory", "mandatory", "disabled", "remediate"];

let pack: ChildProcess;
let client: any;

beforeAll(async () => {
  pack = spawn(process.execPath, [require.resolve("tsx/cli"), "policy/index.ts"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  pack.stderr!.on("data", (d) => (stderr += d));
  // The server prints its port as its first line, as the CLI expects.
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    pack.stdout!.on("data", (d) => {
      out += d;
      const line = /^(\d+)\n/.exec(out);
      if (line) resolve(Number(line[1]));
    });
    pack.on("exit", (code) => reject(new Error(`policy pack exited (${code}) before serving: ${stderr}`)));
  });
  client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 60_000);

afterAll(async () => {
  client?.close();
  if (pack && pack.exitCode === null) {
    const exited = new Promise((r) => pack.once("exit", r));
    pack.kill("SIGTERM");
    await exited;
  }
});

const call = <T>(method: string, request: unknown): Promise<T> =>
  new Promise((resolve, reject) => client[method](request, (err: Error | null, response: T) => (err ? reject(err) : resolve(response))));

function analyzerResource(record: RecordedResource, Message: any): any {
  const options = new pb.AnalyzerResourceOptions();
  options.setAdditionalsecretoutputsList([...record.additionalSecretOutputs]);
  options.setDeletebeforereplacedefined(true);
  options.setDeletebeforereplace(record.deleteBeforeReplace);
  if (record.parent) options.setParent(record.parent);
  const message = new Message();
  message.setType(record.type);
  message.setUrn(record.urn);
  message.setName(record.name);
  message.setProperties(Struct.fromJavaScript(record.wireInputs as never));
  message.setOptions(options);
  if (Message === pb.AnalyzerResource && record.parent) message.setParent(record.parent);
  return message;
}

/** What the engine would collect for a stack: remediations, then resource analysis, then stack analysis. */
async function serverViolations(records: RecordedResource[]): Promise<Violation[]> {
  const found: Violation[] = [];
  // The server sends "<description>\n<message>"; the harness keeps the message alone.
  const add = (d: any, urn?: string) =>
    found.push({
      policy: d.getPolicyname(),
      enforcementLevel: LEVELS[d.getEnforcementlevel()] as Violation["enforcementLevel"],
      message: d.getMessage().startsWith(`${d.getDescription()}\n`) ? d.getMessage().slice(d.getDescription().length + 1) : d.getMessage(),
      urn: d.getUrn() || urn,
    });
  for (const record of records) {
    try {
      await call("remediate", analyzerResource(record, pb.AnalyzeRequest));
    } catch (err) {
      // A remediation that throws fails the RPC, and the engine stops the deployment with its message.
      const detail = /from policy pack '[^']*':\n([\s\S]*)$/.exec((err as grpc.ServiceError).details);
      const policy = /remediation '([^']+)'/.exec((err as grpc.ServiceError).details);
      found.push({
        policy: policy?.[1] ?? "?",
        enforcementLevel: "mandatory",
        message: detail?.[1] ?? (err as Error).message,
        urn: record.urn,
      });
    }
    const analyzed: any = await call("analyze", analyzerResource(record, pb.AnalyzeRequest));
    for (const d of analyzed.getDiagnosticsList()) add(d, record.urn);
  }
  const stack = new pb.AnalyzeStackRequest();
  stack.setResourcesList(records.map((r) => analyzerResource(r, pb.AnalyzerResource)));
  const analyzedStack: any = await call("analyzeStack", stack);
  for (const d of analyzedStack.getDiagnosticsList()) add(d);
  return found;
}

const key = (v: Violation) => `${v.enforcementLevel} ${v.policy} ${v.urn ?? ""} ${v.message}`;
const sorted = (vs: Violation[]) => vs.map(key).sort();

describe("the pack served by @pulumi/policy's analyzer server", () => {
  it("announces every policy with its enforcement level", async () => {
    const info: any = await call("getAnalyzerInfo", new (require("google-protobuf/google/protobuf/empty_pb").Empty)());
    expect(info.getName()).toBe("forensic-lab");
    const served = info.getPoliciesList().map((p: any) => [p.getName(), LEVELS[p.getEnforcementlevel()]]);
    expect(served).toEqual(policies.map((p) => [p.name, p.enforcementLevel]));
  });

  it("finds nothing wrong with the safe lab", async () => {
    expect(await serverViolations(withEngineUrns(build(await safeLab())))).toEqual([]);
  });

  it("blocks each unsafe thing, and the harness reports exactly the same", async () => {
    const records = withEngineUrns(build(await unsafeLab()));
    const fromServer = await serverViolations(records);
    const fromHarness = await runPolicies(records);
    expect(sorted(fromServer)).toEqual(sorted(fromHarness));
    const policiesHit = new Set(fromServer.map((v) => v.policy));
    expect([...policiesHit].sort()).toEqual(policies.map((p) => p.name).sort());
    expect(fromServer.filter((v) => v.policy === "passphrase-is-secret").map((v) => v.message)).toEqual([
      "EvidenceVolume 'case-42-volume': passphrase is not a Pulumi secret, so it would be stored in plain text: set it with 'pulumi config set --secret' or wrap it in pulumi.secret()",
    ]);
  });

  it("during preview leaves hooks it cannot read yet to `pulumi up`, and still checks the args", async () => {
    const lab = await safeLab();
    for (const name of ["disk-p1-mount", "disk-nbd-attach", "case-42-guest-domain"])
      Object.assign(resource(lab, name), { unknownKeys: ["create", "delete"] });
    resource(lab, "disk-p1-mount").props.create = "mount -o rw /dev/nbd0p1 /mnt/x"; // unknown: never read
    resource(lab, "disk-nbd").props.readOnly = false;
    const records = withEngineUrns(build(lab));
    const fromServer = await serverViolations(records);
    expect(sorted(fromServer)).toEqual(sorted(await runPolicies(records)));
    expect(fromServer.map((v) => `${v.policy}: ${v.message}`)).toEqual([
      "nbd-attachment-read-only: readOnly must be the literal true, got false: qemu-nbd would export the image writable",
    ]);
  });
});
