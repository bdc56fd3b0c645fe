/**
 * The e2e engine with the lab's real hooks: a program whose first command boots an analysis guest
 * (AnalysisGuest's create.sh/delete.sh) and whose second runs in it over the pinned ssh, with a secret
 * on stdin. Up, up again, every hook re-run, destroy, destroy again; the domain is checked with virsh.
 */
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { BOOT_TIMEOUT_MS, ensureGuestImage, ensureLibvirt, freeLoopbackPort, run } from "../guest/harness";
import { EngineState, UpOptions, destroy, stateOf, up } from "./engine";

const PROGRAM = path.join(__dirname, "fixtures", "guest-lab.ts");
const PASSPHRASE = "e2e guest test";
const SECRET = `luks-like secret ${randomBytes(8).toString("hex")}`;

let stateDir: string;
let options: UpOptions;
let lastState: EngineState | undefined;

async function domstate(domain: string): Promise<string> {
  const r = await run(["virsh", "-c", "qemu:///system", "domstate", domain]);
  return r.code === 0 ? r.stdout.trim() : "undefined";
}

beforeAll(async () => {
  await ensureLibvirt();
  const imageDir = await ensureGuestImage();
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-e2e-guest-"));
  options = {
    stack: "e2e-guest",
    project: "guestlab",
    config: {
      "guestlab:caseId": `e2e-${randomBytes(3).toString("hex")}`,
      "guestlab:stateDir": stateDir,
      "guestlab:imageDir": imageDir,
      "guestlab:sshPort": String(await freeLoopbackPort()),
      "guestlab:secret": SECRET,
    },
    secretKeys: ["guestlab:secret"],
    secretsPassphrase: PASSPHRASE,
    hookTimeoutMs: BOOT_TIMEOUT_MS,
  };
}, BOOT_TIMEOUT_MS);

afterAll(async () => {
  // Whatever a failed test left: the saved checkpoint's deletes tolerate what is already gone.
  if (lastState) await destroy(lastState, { secretsPassphrase: PASSPHRASE }).catch(() => undefined);
  if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
}, BOOT_TIMEOUT_MS);

test(
  "a real guest comes up through the engine, converges, re-runs idempotently and is destroyed without a trace",
  async () => {
    const first = await up(PROGRAM, options);
    lastState = JSON.parse(JSON.stringify(stateOf(first)));
    const domain = first.outputs.domainName as string;
    expect(await domstate(domain)).toBe("running");
    expect(first.outputs.outcome).toBe("created");
    // The secret went over ssh on stdin, intact, and is nowhere in the checkpoint.
    expect(first.outputs.probeResult).toMatchObject({
      secretBytes: SECRET.length,
      secretSha256: createHash("sha256").update(SECRET).digest("hex"),
    });
    expect(JSON.stringify(lastState)).not.toContain(SECRET);
    expect(first.log.map((s) => `${s.op} ${s.name}`)).toEqual(["create guest-domain", "create guest-probe"]);

    const again = await up(PROGRAM, { ...options, previous: lastState });
    expect(again.log.filter((s) => s.hook)).toEqual([]);

    // Every create hook again, on the running lab: the guest is left alone, the probe finds its secret.
    const rerun = await up(PROGRAM, { ...options, previous: lastState, forceRerun: true });
    expect(rerun.log.map((s) => `${s.op} ${s.name}`)).toEqual(["rerun guest-domain", "rerun guest-probe"]);
    expect(rerun.outputs.outcome).toBe("running");
    lastState = JSON.parse(JSON.stringify(stateOf(rerun)));

    const log = await destroy(lastState!, { secretsPassphrase: PASSPHRASE });
    expect(log.map((s) => `${s.hook} ${s.name} ${s.result}`)).toEqual(["delete guest-probe done", "delete guest-domain done"]);
    expect(await domstate(domain)).toBe("undefined");

    // Destroy again: the guest is gone, the probe's in-guest delete counts that as nothing to undo.
    const twice = await destroy(lastState!, { secretsPassphrase: PASSPHRASE });
    expect(twice.every((s) => s.result === "done")).toBe(true);
    lastState = undefined;
  },
  4 * BOOT_TIMEOUT_MS,
);
