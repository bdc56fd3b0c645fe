/**
 * AnalysisGuest without the engine: eager validation, the resource graph, the registered contract the
 * policy pack reads, that every value reaches the hooks through the quoted prelude, and the outputs
 * taken from the create hook's result line.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Element } from "@oozcitak/dom/lib/dom/interfaces";
import { create } from "xmlbuilder2";
import { deriveSshPort } from "../../lib/config/parse";
import { hookValue } from "../../lib/rendered-hook";
import { LOCAL_COMMAND, TYPE } from "../../lib/tokens";
import { MockRun, settle, setupMocks, valueOf } from "../../test/mocks";
import { AnalysisGuest, AnalysisGuestArgs } from "./AnalysisGuest";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH1lOitzHADGg+ToBksSr3mBb1fag/eLAx11JgNbe8bp";

/** What the real create hook prints for the domain the command's prelude names. */
function hookOutputs(a: pulumi.runtime.MockResourceArgs): Record<string, unknown> | undefined {
  if (a.type !== LOCAL_COMMAND) return undefined;
  const domainName = hookValue(a.inputs.create, "DOMAIN_NAME");
  const v = (name: string) => hookValue(a.inputs.create, name);
  const result = {
    domainName,
    outcome: "created",
    accelerator: "tcg",
    hostKey: HOST_KEY,
    host: v("GUEST_HOST"),
    port: Number(v("GUEST_PORT")),
    user: v("GUEST_USER"),
    privateKeyPath: v("PRIVATE_KEY"),
    knownHostsPath: v("KNOWN_HOSTS"),
    jumpHost: v("JUMP_HOST"),
    libvirtUri: v("LIBVIRT_URI"),
    bootSeconds: 14,
  };
  return { stdout: `analysis-guest: booting\nFORENSIC_LAB_RESULT ${JSON.stringify(result)}\n` };
}

async function build(args: Partial<Record<keyof AnalysisGuestArgs, unknown>> = {}): Promise<{ run: MockRun; guest: AnalysisGuest }> {
  const run = await setupMocks({ outputsFor: hookOutputs });
  const guest = new AnalysisGuest("case-42-guest", { caseId: "case-42", ...args } as AnalysisGuestArgs);
  await settle();
  return { run, guest };
}

const xmlOf = (text: string, variant: "KVM" | "TCG") => create(hookValue(text, `DOMAIN_XML_${variant}`)).root().node as unknown as Element;

describe("AnalysisGuest", () => {
  test("one child command, `<name>-domain`, parented to the component; replaced (old one first) on change", async () => {
    const { run } = await build();
    const [component] = run.byType(TYPE.AnalysisGuest);
    const commands = run.byType(LOCAL_COMMAND);
    expect(commands.map((c) => c.name)).toEqual(["case-42-guest-domain"]);
    expect(commands[0].parent).toBe(component.urn);
    expect(commands[0].deleteBeforeReplace).toBe(true);
    expect(commands[0].replaceOnChanges).toEqual(["create", "triggers[*]"]); // @pulumi/command adds "triggers[*]" itself
    expect(commands[0].inputs.interpreter).toEqual(["/bin/bash", "-c"]);
    expect(run.destroyOrder()).toEqual([commands[0].urn, component.urn]);
  });

  test("the policy contract is registered as plain literals: network and an empty hostShares", async () => {
    const { run } = await build({ memoryMiB: 4096, vcpus: 4 });
    const [component] = run.byType(TYPE.AnalysisGuest);
    expect(component.inputs).toMatchObject({ network: "user-restricted", hostShares: [], memoryMiB: 4096, vcpus: 4, caseId: "case-42" });
  });

  test("defaults: state folder, image, derived port, 2 GiB and 2 vCPUs, local libvirt", async () => {
    const { run } = await build();
    const { create: createText, delete: deleteText } = run.byType(LOCAL_COMMAND)[0].inputs;
    expect(hookValue(createText, "DOMAIN_NAME")).toBe("forensic-case-42");
    expect(hookValue(createText, "STATE_DIR")).toBe("/var/lib/forensic-lab/cases/case-42");
    expect(hookValue(createText, "KEYS_DIR")).toBe("/var/lib/forensic-lab/cases/case-42/keys");
    expect(hookValue(createText, "IMAGE_DIR")).toBe("/var/lib/forensic-lab/guest-image/current");
    expect(hookValue(createText, "GUEST_PORT")).toBe(String(deriveSshPort("case-42")));
    expect(hookValue(createText, "LIBVIRT_URI")).toBe("qemu:///system");
    expect(hookValue(createText, "LIBVIRT_SSH_TARGET")).toBe("");
    expect(hookValue(createText, "BOOT_TIMEOUT_SECONDS")).toBe("600");
    const tcg = xmlOf(createText, "TCG");
    expect(tcg.getElementsByTagName("memory").item(0)?.textContent).toBe("2048");
    expect(tcg.getElementsByTagName("vcpu").item(0)?.textContent).toBe("2");
    expect(hookValue(deleteText, "DOMAIN_NAME")).toBe("forensic-case-42");
    expect(hookValue(deleteText, "DISKS_DIR")).toBe("/var/lib/forensic-lab/cases/case-42/disks");
  });

  test("both XML variants reach the hook; the forward uses the case's port on 127.0.0.1", async () => {
    const { run } = await build({ sshPort: 40022 });
    const text = run.byType(LOCAL_COMMAND)[0].inputs.create;
    expect(xmlOf(text, "KVM").getAttribute("type")).toBe("kvm");
    expect(xmlOf(text, "TCG").getAttribute("type")).toBe("qemu");
    expect(hookValue(text, "DOMAIN_XML_TCG")).toContain("hostfwd=tcp:127.0.0.1:40022-:22");
    expect(hookValue(hookValue(text, "DETECT_ACCELERATOR_HOOK"), "ACCELERATOR")).toBe("auto");
  });

  test("an evidence disk given as an Output reaches the XML with its serial", async () => {
    const { run } = await build({ evidenceDisk: { path: pulumi.output("/dev/vg0/case 42 'x'"), type: "block" } });
    const text = run.byType(LOCAL_COMMAND)[0].inputs.create;
    expect(hookValue(text, "EVIDENCE_PATH")).toBe("/dev/vg0/case 42 'x'");
    const disk = xmlOf(text, "TCG").getElementsByTagName("disk").item(2);
    expect(disk?.getAttribute("type")).toBe("block");
    expect(disk?.getElementsByTagName("source").item(0)?.getAttribute("dev")).toBe("/dev/vg0/case 42 'x'");
    expect(disk?.getElementsByTagName("serial").item(0)?.textContent).toBe("forensic-evidence");
  });

  test("a remote libvirt: file work through ssh, guest through -J", async () => {
    const { run, guest } = await build({ libvirtUri: "qemu+ssh://examiner@lab1.example.org:2222/system" });
    const text = run.byType(LOCAL_COMMAND)[0].inputs.create;
    expect(hookValue(text, "LIBVIRT_SSH_TARGET")).toBe("examiner@lab1.example.org");
    expect(hookValue(text, "LIBVIRT_SSH_PORT")).toBe("2222");
    expect(hookValue(text, "JUMP_HOST")).toBe("examiner@lab1.example.org:2222");
    expect((await valueOf(guest.connection)).jumpHost).toBe("examiner@lab1.example.org:2222");
    expect(await valueOf(guest.sshCommand)).toContain("-J examiner@lab1.example.org:2222");
  });

  test("libvirt-isolated: the network name reaches hook and XML, the guest is reached on 10.0.2.15:22", async () => {
    const { run, guest } = await build({ network: "libvirt-isolated", isolatedNetwork: "forensic-isolated" });
    const text = run.byType(LOCAL_COMMAND)[0].inputs.create;
    expect(hookValue(text, "NETWORK_MODE")).toBe("libvirt-isolated");
    expect(hookValue(text, "ISOLATED_NETWORK")).toBe("forensic-isolated");
    expect(xmlOf(text, "KVM").getElementsByTagName("interface")).toHaveLength(1);
    expect(await valueOf(guest.address)).toBe("10.0.2.15:22");
    expect(run.byType(TYPE.AnalysisGuest)[0].inputs.network).toBe("libvirt-isolated");
  });

  test("outputs come from the create hook's result line", async () => {
    const { guest } = await build({ sshPort: 40022 });
    expect(await valueOf(guest.domainName)).toBe("forensic-case-42");
    expect(await valueOf(guest.hostKey)).toBe(HOST_KEY);
    expect(await valueOf(guest.accelerator)).toBe("tcg");
    expect(await valueOf(guest.address)).toBe("127.0.0.1:40022");
    expect(await valueOf(guest.connection)).toEqual({
      host: "127.0.0.1",
      port: 40022,
      user: "root",
      privateKeyPath: "/var/lib/forensic-lab/cases/case-42/keys/id_ed25519",
      knownHostsPath: "/var/lib/forensic-lab/cases/case-42/keys/known_hosts",
      jumpHost: "",
      domainName: "forensic-case-42",
      libvirtUri: "qemu:///system",
      // The key the guest proved: in-guest hooks pin it from their own text.
      hostKey: HOST_KEY,
    });
    expect(await valueOf(guest.sshCommand)).toBe(
      "ssh -F none -o BatchMode=yes -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o ForwardAgent=no -o ForwardX11=no " +
        "-o ClearAllForwardings=yes -o Tunnel=no -o ControlMaster=no -o ControlPath=none -o ControlPersist=no " +
        "-o PermitLocalCommand=no -o ForkAfterAuthentication=no -o IdentityAgent=none -o IdentitiesOnly=yes " +
        "-o GlobalKnownHostsFile=/dev/null -o KexAlgorithms=curve25519-sha256 -i /var/lib/forensic-lab/cases/case-42/keys/id_ed25519 " +
        "-o UserKnownHostsFile=/var/lib/forensic-lab/cases/case-42/keys/known_hosts -p 40022 root@127.0.0.1",
    );
  });

  test("a hostile state folder stays data in the hook text", async () => {
    const hostile = "/srv/cases/x'; touch /tmp/pwned; '$(id)";
    const { run } = await build({ stateDir: hostile });
    const text = run.byType(LOCAL_COMMAND)[0].inputs.create;
    expect(hookValue(text, "STATE_DIR")).toBe(hostile);
    expect(hookValue(text, "PRIVATE_KEY")).toBe(`${hostile}/keys/id_ed25519`);
  });

  test.each([
    [{ caseId: "Case 42" }, "caseId: must match"],
    [{ memoryMiB: 256 }, "memoryMiB: must be a whole number of MiB from 512 to 262144"],
    [{ memoryMiB: 2048.5 }, "memoryMiB: must be a whole number of MiB"],
    [{ vcpus: 0 }, "vcpus: must be a whole number from 1 to 64"],
    [{ sshPort: 22 }, "sshPort: must be a whole number from 1024 to 65535"],
    [{ accelerator: "hvf" }, "accelerator: must be 'auto', 'kvm' or 'tcg'"],
    [{ network: "bridged" }, "network: must be 'user-restricted' or 'libvirt-isolated'"],
    [{ network: "libvirt-isolated" }, "isolatedNetwork: is required with network 'libvirt-isolated'"],
    [{ network: "libvirt-isolated", isolatedNetwork: "default" }, "isolatedNetwork: must not be 'default'"],
    [{ isolatedNetwork: "lab" }, "isolatedNetwork: only applies to network 'libvirt-isolated'"],
    [{ network: "libvirt-isolated", isolatedNetwork: "lab", sshPort: 40022 }, "sshPort: only applies to network 'user-restricted'"],
    [{ stateDir: "relative/dir" }, "stateDir: must be absolute (got 'relative/dir'); the case's state folder"],
    [{ stateDir: "/srv/../etc" }, "stateDir: must not contain '..' (got '/srv/../etc')"],
    [{ stateDir: "/" }, "stateDir: must not be '/'"],
    [{ imageDir: "/img/" }, "imageDir: must be written plainly as '/img' (got '/img/')"],
    [
      { libvirtUri: "qemu+tcp://lab1/system" },
      "libvirtUri: must be qemu:///system or qemu+ssh://[user@]host[:port]/system (got 'qemu+tcp://lab1/system')",
    ],
    [{ evidenceDisk: { path: "/dev/sdb", type: "partition" } }, "evidenceDisk.type: must be 'file' or 'block'"],
    [{ hostShares: ["/home"] }, "hostShares: must be empty"],
    [{ bootTimeoutSeconds: 1 }, "bootTimeoutSeconds: must be a whole number of seconds from 10 to 7200"],
    [{ sharedFolder: "/home" }, "sharedFolder: unknown key"],
  ])("%j is refused before any child exists: %s", async (bad, message) => {
    const run = await setupMocks({ outputsFor: hookOutputs });
    let error: unknown;
    try {
      new AnalysisGuest("case-42-guest", { caseId: "case-42", ...bad } as unknown as AnalysisGuestArgs);
    } catch (err) {
      error = err;
    }
    expect(pulumi.ResourceError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain(`AnalysisGuest 'case-42-guest': `);
    expect((error as Error).message).toContain(message);
    await settle();
    expect(run.byType(LOCAL_COMMAND)).toEqual([]);
  });
});
