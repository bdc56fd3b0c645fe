/**
 * The harness end to end: a small program built from the real components runs under the shared mocks
 * helper, and every policy runs over what it registered, the way `pulumi up --policy-pack policy`
 * would. The real components pass; resources registered the unsafe way are caught.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { AnalysisGuest } from "../../components/analysis-guest/AnalysisGuest";
import { EvidenceVolume } from "../../components/evidence-volume/EvidenceVolume";
import { ImageTransfer } from "../../components/image-transfer/ImageTransfer";
import { NbdAttachment } from "../../components/nbd-attachment/NbdAttachment";
import { PartitionMount } from "../../components/partition-mount/PartitionMount";
import { inGuestCommand } from "../../lib/shell";
import { LOCAL_COMMAND, TYPE } from "../../lib/tokens";
import { MockRun, settle, setupMocks } from "../../test/mocks";
import { runPolicies, withEngineUrns } from "../../test/support/policy-harness";
import { hookFile } from "../../lib/hook-file";
import { fakeHookOutputs } from "../../test/support/fake-hooks";

const PASSPHRASE = "correct horse 'battery' $(staple)";
const sha = (c: string) => c.repeat(64);
const manifest = {
  format: "vmdk" as const,
  virtualSize: 1 << 20,
  chain: [{ path: "/srv/evidence/win7/Win7.vmdk", format: "vmdk" as const, extents: [{ path: "/srv/evidence/win7/Win7-flat.vmdk" }] }],
  files: [
    { path: "/srv/evidence/win7/Win7.vmdk", size: 512, sha256: sha("a") },
    { path: "/srv/evidence/win7/Win7-flat.vmdk", size: 1 << 20, sha256: sha("b") },
  ],
};

/** What each real hook prints, so components can read their results as after `pulumi up`. */
const hookOutputs = fakeHookOutputs("case-7", [{ name: "win7", manifest, guestRoot: "/evidence/win7" }]);

/** A component of a lab type registered with whatever args a test wants: what the policies must catch. */
class Unsafe extends pulumi.ComponentResource {
  constructor(type: string, name: string, args: Record<string, unknown>, opts: pulumi.ComponentResourceOptions = {}) {
    super(type, name, args, opts);
    this.registerOutputs({});
  }
}

async function safeProgram(): Promise<{ run: MockRun; lab: pulumi.ComponentResource; guest: AnalysisGuest; nbd: NbdAttachment }> {
  const run = await setupMocks({ outputsFor: hookOutputs });
  const lab = new Unsafe(TYPE.Case, "case-7", { caseId: "case-7", examiner: "Erika Mustermann" });
  const volume = new EvidenceVolume(
    "case-7-volume",
    {
      caseId: "case-7",
      backend: "file",
      path: "/var/lib/forensic-lab/case-7/evidence.luks",
      sizeGiB: 4,
      passphrase: pulumi.secret(PASSPHRASE),
      encrypted: true,
    },
    { parent: lab },
  );
  const guest = new AnalysisGuest(
    "case-7-guest",
    { caseId: "case-7", sshPort: 2207, evidenceDisk: { path: volume.disk.apply((d) => d.path), type: "file" } },
    { parent: lab },
  );
  volume.openIn(guest.connection, { dependsOn: guest });
  const transfer = new ImageTransfer(
    "win7",
    {
      guest: guest.connection,
      imageName: "win7",
      manifest,
      mode: "sshfs",
      readOnly: true,
      hashed: true,
      custodyLogPath: "/var/lib/forensic-lab/case-7/custody.jsonl",
      examiner: "Erika Mustermann",
    },
    { parent: lab, dependsOn: guest },
  );
  const nbd = new NbdAttachment(
    "win7-nbd",
    { guest: guest.connection, imagePath: transfer.guestTopPath, format: "vmdk", readOnly: true },
    { parent: lab },
  );
  new PartitionMount(
    "win7-p1",
    {
      guest: guest.connection,
      nbdDevice: nbd.nbdDevice,
      partition: 1,
      mountPoint: "/mnt/forensic/win7/p1",
      readOnly: true,
      extraOptions: ["noatime"],
    },
    { parent: lab },
  );
  await settle();
  return { run, lab, guest, nbd };
}

describe("runPolicies over a program of real components under mocks", () => {
  it("finds nothing wrong with the real components", async () => {
    const { run } = await safeProgram();
    const types = new Set(run.resources.map((r) => r.type));
    for (const t of [TYPE.EvidenceVolume, TYPE.AnalysisGuest, TYPE.ImageTransfer, TYPE.NbdAttachment, TYPE.PartitionMount, LOCAL_COMMAND])
      expect(types).toContain(t);
    expect(await runPolicies(run.resources)).toEqual([]);
  });

  it("rebuilds engine URNs: the whole type chain, as the engine names children", async () => {
    const { run } = await safeProgram();
    const mount = withEngineUrns(run.resources).find((r) => r.name === "win7-p1-mount")!;
    expect(mount.urn).toBe(`urn:pulumi:test::forensic-lab::${TYPE.Case}$${TYPE.PartitionMount}$${LOCAL_COMMAND}::win7-p1-mount`);
  });

  it("catches each unsafe thing a program registers", async () => {
    const { run, lab, guest, nbd } = await safeProgram();
    new Unsafe(TYPE.EvidenceVolume, "plain-volume", { encrypted: false, passphrase: "hunter2-plain", retain: true }, { parent: lab });
    new Unsafe(
      TYPE.PartitionMount,
      "rw-mount",
      { guest: guest.connection, readOnly: false, partition: 1, extraOptions: ["rw"] },
      { parent: lab },
    );
    new Unsafe(TYPE.AnalysisGuest, "open-guest", { network: "bridged", memoryMiB: 65536, hostShares: ["/srv"] }, { parent: lab });
    new command.local.Command("rogue-mount", { create: "mount /dev/nbd0p1 /mnt/x" }, { parent: nbd });
    new command.local.Command(
      "leaky",
      { create: inGuestCommand(guest.connection, hookFile("partition-mount", "guest-umount.sh"), { MOUNT_POINT: PASSPHRASE }, "succeed") },
      { parent: lab },
    );
    await settle();

    const found = (await runPolicies(run.resources)).map((v) => `${v.enforcementLevel} ${v.policy} ${v.name}: ${v.message}`);
    expect(found).toEqual([
      "mandatory partition-mount-read-only rw-mount: readOnly must be the literal true, got false: the partition would be mounted writable",
      "mandatory partition-mount-read-only rw-mount: extraOptions must not contain 'rw': it mounts the evidence read-write",
      "mandatory evidence-access-in-guest rogue-mount: create hook is not the in-guest ssh wrapper (lib/hooks/in-guest.sh), so it would run on the host",
      "mandatory evidence-guest-in-stack open-guest: none of its commands carries a libvirt domain XML, so neither its domain name nor its isolation can be checked",
      "mandatory guest-isolated open-guest: network must be one of 'user-restricted', 'libvirt-isolated', got \"bridged\": any other network gives malware in the evidence a path out",
      'mandatory guest-isolated open-guest: hostShares must be empty, got ["/srv"]: host files reach the guest only through ImageTransfer',
      "mandatory evidence-volume-encrypted plain-volume: encrypted must be the literal true, got false: the case storage holds evidence copies and findings in the clear",
      "mandatory passphrase-is-secret plain-volume: EvidenceVolume 'plain-volume': passphrase is not a Pulumi secret, so it would be stored in plain text: set it with 'pulumi config set --secret' or wrap it in pulumi.secret()",
      "mandatory evidence-commands-read-only rogue-mount: create hook runs `mount /dev/nbd0p1 /mnt/x`, which has no literal read-only flag (-r, --read-only, -o ro)",
      "mandatory no-secret-in-command-text leaky: its create text contains the passphrase of 'case-7-volume'; secrets reach hooks only on stdin",
      "advisory guest-memory-limit open-guest: memoryMiB 65536 is more than 16 GiB: the host has that much less for everything else (raise the policy's maxMemoryGiB if this is intended)",
      "advisory evidence-volume-retained plain-volume: retain is true: 'pulumi destroy' leaves the encrypted volume in place; erase it by hand when the case closes",
    ]);
  });

  it("honours policy pack config: a disabled policy reports nothing", async () => {
    const { run, lab } = await safeProgram();
    new Unsafe(TYPE.EvidenceVolume, "plain-volume", { encrypted: false, passphrase: pulumi.secret("x-secret-x") }, { parent: lab });
    await settle();
    expect((await runPolicies(run.resources)).map((v) => v.policy)).toEqual(["evidence-volume-encrypted"]);
    expect(await runPolicies(run.resources, { config: { "evidence-volume-encrypted": "disabled" } })).toEqual([]);
  });
});
