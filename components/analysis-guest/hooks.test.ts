/**
 * The analysis guest's host hooks, run for real with bash: accelerator detection against fake sysfs and
 * device paths, and the delete hook against a stand-in `virsh` (real libvirt is exercised by
 * AnalysisGuest.guest.test.ts). Files are real files in a temporary folder.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderHook } from "../../lib/shell";
import { run } from "../../test/guest/harness";
import { CREATE_HOOK, DELETE_HOOK, DETECT_ACCELERATOR_HOOK, planGuest } from "./plan";

let scratch: string;
beforeEach(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "analysis-guest-hooks-"));
});
afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe("host-detect-accelerator.sh", () => {
  const detect = (accelerator: string, kvmDevice: string, pvmModule: string) =>
    run([
      "/bin/bash",
      "-c",
      renderHook(DETECT_ACCELERATOR_HOOK, { ACCELERATOR: accelerator, KVM_DEVICE: kvmDevice, PVM_MODULE: pvmModule }),
    ]);
  // /dev/null is a character device like /dev/kvm; a folder stands in for /sys/module/kvm_pvm.
  const charDevice = "/dev/null";
  const absent = () => path.join(scratch, "absent");
  const pvm = () => {
    fs.mkdirSync(path.join(scratch, "kvm_pvm"));
    return path.join(scratch, "kvm_pvm");
  };

  test.each([
    ["auto", "real KVM", "kvm", () => [charDevice, absent()]],
    ["auto", "kvm_pvm", "tcg", () => [charDevice, pvm()]],
    ["auto", "no /dev/kvm", "tcg", () => [absent(), absent()]],
    ["tcg", "real KVM", "tcg", () => [charDevice, absent()]],
    ["kvm", "kvm_pvm", "kvm", () => [charDevice, pvm()]],
  ])("%s on a host with %s -> %s", async (accelerator, _host, expected, paths) => {
    const [kvmDevice, pvmModule] = paths();
    const r = await detect(accelerator, kvmDevice, pvmModule);
    expect(r).toEqual({ code: 0, stdout: `${expected}\n`, stderr: "" });
  });

  test("kvm forced on a host without /dev/kvm fails and says what to do", async () => {
    const r = await detect("kvm", absent(), absent());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/accelerator: 'kvm' is forced but this libvirt host has no .*absent; use 'auto' or 'tcg'/);
  });

  test("an unknown accelerator is refused", async () => {
    const r = await detect("hvf", charDevice, absent());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("accelerator: 'hvf' is not one of auto, kvm, tcg");
  });
});

describe("host-delete.sh and host-create.sh against a stand-in virsh", () => {
  // A stand-in virsh: domains listed in $FAKE/domains, state in $FAKE/state, every call logged.
  const FAKE_VIRSH = `#!/usr/bin/env bash
set -euo pipefail
echo "$*" >>"$FAKE/calls"
shift 3 # -q -c URI
case "$1" in
  list) [[ ! -e "$FAKE/list-fails" ]] || { echo "error: failed to connect to the hypervisor" >&2; exit 1; }; cat "$FAKE/domains" ;;
  domstate) cat "$FAKE/state" ;;
  destroy) echo "shut off" >"$FAKE/state" ;;
  undefine) [[ ! -e "$FAKE/undefine-fails" ]] || { echo "error: Requested operation is not valid" >&2; exit 1; }; : >"$FAKE/domains" ;;
  net-dumpxml) [[ -e "$FAKE/net.xml" ]] || { echo "error: Network not found" >&2; exit 1; }; cat "$FAKE/net.xml" ;;
  net-info) cat "$FAKE/net-info" ;;
  domiflist) if [[ -e "$FAKE/iflist-$2" ]]; then cat "$FAKE/iflist-$2"; fi ;;
  define) sed -n "s/.*<name>\\(.*\\)<\\/name>.*/\\1/p" "$2" | head -n 1 >>"$FAKE/domains"; echo "shut off" >"$FAKE/state" ;;
  start)
    [[ ! -e "$FAKE/start-fails" ]] || { echo "error: Cannot access storage file (as uid:999, gid:107): Permission denied" >&2; exit 1; }
    echo running >"$FAKE/state"
    if [[ -e "$FAKE/console-on-start" ]]; then cp "$FAKE/console-on-start" "$FAKE_CONSOLE"; fi ;;
  reset) echo "[    0.000000] Linux version 6.1.0 (booting again)" >>"$FAKE_CONSOLE"; touch "$FAKE/ssh-answers" ;;
  dumpxml) echo "<domain type='qemu'>" ;;
  *) echo "unexpected virsh $*" >&2; exit 2 ;;
esac
`;

  function setup(
    domainState: string | undefined,
    network: { mode: "user-restricted" | "libvirt-isolated"; name: string } = { mode: "user-restricted", name: "" },
  ) {
    const fake = path.join(scratch, "fake");
    fs.mkdirSync(path.join(fake, "bin"), { recursive: true });
    fs.writeFileSync(path.join(fake, "bin", "virsh"), FAKE_VIRSH, { mode: 0o755 });
    const plan = planGuest({
      caseId: `unit-${path.basename(scratch).slice(-6).toLowerCase()}`,
      stateDir: path.join(scratch, "case"),
      imageDir: "/nonexistent",
      memoryMiB: 1024,
      vcpus: 1,
      sshPort: 40022,
      accelerator: "auto",
      network: network.mode,
      isolatedNetwork: network.name,
      libvirtUri: "qemu:///system",
      bootTimeoutSeconds: 60,
    });
    fs.writeFileSync(path.join(fake, "domains"), domainState ? `${plan.domainName}\nforensic-someone-else\n` : "forensic-someone-else\n");
    fs.writeFileSync(path.join(fake, "state"), domainState ?? "");
    for (const file of [
      plan.privateKeyPath,
      plan.hostKeyPath,
      plan.knownHostsPath,
      plan.domain.overlayPath,
      plan.domain.seedPath,
      plan.domain.kernelPath,
    ]) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, "x");
    }
    // A stand-in ssh: the guest answers once $FAKE/ssh-answers exists.
    fs.writeFileSync(path.join(fake, "bin", "ssh"), '#!/bin/sh\n[ -e "$FAKE/ssh-answers" ] || exit 255\n', { mode: 0o755 });
    const env = {
      ...process.env,
      FAKE: fake,
      FAKE_CONSOLE: plan.domain.consoleLogPath,
      PATH: `${path.join(fake, "bin")}:${process.env.PATH}`,
    };
    const deleteHook = () => run(["/bin/bash", "-c", renderHook(DELETE_HOOK, plan.deleteValues)], { env });
    const calls = () => fs.readFileSync(path.join(fake, "calls"), "utf8").trim().split("\n");
    return { fake, plan, env, deleteHook, calls };
  }

  test("a running domain is destroyed and undefined, then its disks and keys go; twice is fine", async () => {
    const { plan, deleteHook, calls } = setup("running");
    const first = await deleteHook();
    expect(first.code).toBe(0);
    expect(calls()).toEqual([
      "-q -c qemu:///system list --all --name",
      `-q -c qemu:///system domstate ${plan.domainName}`,
      `-q -c qemu:///system destroy ${plan.domainName}`,
      `-q -c qemu:///system undefine ${plan.domainName}`,
    ]);
    expect(fs.existsSync(plan.stateDir)).toBe(false);
    const second = await deleteHook();
    expect(second.code).toBe(0);
    expect(second.stderr).toContain("no domain; nothing to stop");
  });

  test("a shut-off domain is only undefined", async () => {
    const { plan, deleteHook, calls } = setup("shut off");
    expect((await deleteHook()).code).toBe(0);
    expect(calls()).not.toContain(`-q -c qemu:///system destroy ${plan.domainName}`);
    expect(calls()).toContain(`-q -c qemu:///system undefine ${plan.domainName}`);
  });

  test("nothing there at all is success; another domain is never touched", async () => {
    const { plan, deleteHook, calls, fake } = setup(undefined);
    fs.rmSync(plan.stateDir, { recursive: true });
    const r = await deleteHook();
    expect(r.code).toBe(0);
    expect(calls()).toEqual(["-q -c qemu:///system list --all --name"]);
    expect(fs.readFileSync(path.join(fake, "domains"), "utf8")).toBe("forensic-someone-else\n");
  });

  test("files that are not the guest's stay, and so does the state folder holding them", async () => {
    const { plan, deleteHook } = setup("running");
    fs.writeFileSync(path.join(plan.stateDir, "evidence.luks"), "not ours");
    expect((await deleteHook()).code).toBe(0);
    expect(fs.readdirSync(plan.stateDir)).toEqual(["evidence.luks"]);
  });

  test("libvirt unreachable is a failure, and nothing is removed", async () => {
    const { plan, deleteHook, fake } = setup("running");
    fs.writeFileSync(path.join(fake, "list-fails"), "");
    const r = await deleteHook();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("cannot list domains at qemu:///system");
    expect(fs.existsSync(plan.domain.overlayPath)).toBe(true);
    expect(fs.existsSync(plan.privateKeyPath)).toBe(true);
  });

  test("an undefine that fails while the domain is still there is a failure", async () => {
    const { plan, deleteHook, fake } = setup("running");
    fs.writeFileSync(path.join(fake, "undefine-fails"), "");
    const r = await deleteHook();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("virsh undefine failed");
    expect(fs.existsSync(plan.domain.overlayPath)).toBe(true);
  });

  /** A guest image folder the create hook can make disks from (an empty qcow2 base). */
  async function emptyImage(name: string): Promise<string> {
    const image = path.join(scratch, name);
    fs.mkdirSync(image);
    await run(["qemu-img", "create", "-q", "-f", "qcow2", path.join(image, "rootfs.qcow2"), "16M"]);
    for (const f of ["manifest.json", "vmlinuz", "initrd.img"]) fs.writeFileSync(path.join(image, f), "");
    return image;
  }

  test("a fresh create that fails after define undoes itself: no domain, disks or keys left", async () => {
    const { fake, plan, env, calls } = setup(undefined);
    fs.rmSync(plan.stateDir, { recursive: true });
    fs.writeFileSync(path.join(fake, "start-fails"), "");
    const image = await emptyImage("image-for-failed-start");
    const r = await run(["/bin/bash", "-c", renderHook(CREATE_HOOK, { ...plan.createValues, IMAGE_DIR: image })], { env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("create failed; removing what this run made");
    expect(calls()).toContain(`-q -c qemu:///system undefine ${plan.domainName}`);
    expect(fs.readFileSync(path.join(fake, "domains"), "utf8")).not.toContain(plan.domainName);
    expect(fs.existsSync(plan.domain.overlayPath)).toBe(false);
    expect(fs.existsSync(plan.domain.seedPath)).toBe(false);
    expect(fs.existsSync(plan.privateKeyPath)).toBe(false);
  });

  describe("a kernel that stalls while booting (TCG on a busy host) is reset once, not waited on until the boot timeout", () => {
    jest.setTimeout(30_000);
    const STALL =
      "[   41.113208] rcu: INFO: rcu_preempt self-detected stall on CPU\n[   41.114020] rcu:     1-....: (5249 ticks this GP)\n";
    const create = async (consoleOnStart: string, domainState?: string, bootTimeoutSeconds = 6) => {
      const { fake, plan, env, calls } = setup(domainState);
      if (domainState === undefined) fs.rmSync(plan.stateDir, { recursive: true });
      fs.writeFileSync(path.join(fake, "console-on-start"), consoleOnStart);
      if (domainState === "running") {
        fs.writeFileSync(plan.domain.consoleLogPath, consoleOnStart);
        fs.writeFileSync(`${plan.hostKeyPath}.pub`, "ssh-ed25519 AAAA forensic-lab test\n");
      }
      const image = await emptyImage("image");
      const values = { ...plan.createValues, IMAGE_DIR: image, BOOT_TIMEOUT_SECONDS: bootTimeoutSeconds, STALL_RESET_SECONDS: 2 };
      const r = await run(["/bin/bash", "-c", renderHook(CREATE_HOOK, values)], { env, timeoutMs: 60_000 });
      return { r, resets: calls().filter((c) => c.endsWith(`reset ${plan.domainName}`)).length };
    };

    test("a stall on the console and no ssh: one reset, then the guest answers", async () => {
      const { r, resets } = await create(STALL);
      expect(r.stderr).toContain(
        "the kernel stalled while booting (console above) and ssh has not answered for 2 s since; resetting the guest once",
      );
      expect(r.stderr).toContain("rcu_preempt self-detected stall");
      expect(resets).toBe(1);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^FORENSIC_LAB_RESULT .*"outcome":"created"/m);
    });

    test("a console silent for three times the stall time (a kernel hung without a word): one reset, then the guest answers", async () => {
      const { r, resets } = await create(
        "[    0.735329] IP idents hash table entries: 32768 (order: 6, 262144 bytes, linear)\n",
        undefined,
        20,
      );
      expect(r.stderr).toContain(
        "the kernel's console has said nothing for 6 s while booting (its last lines above) and ssh has not answered; resetting the guest once",
      );
      expect(resets).toBe(1);
      expect(r.code).toBe(0);
    });

    test("no stall on the console, silent for less than that: no reset, the boot timeout stands", async () => {
      const { r, resets } = await create("[    1.000000] Run /init as init process\n", undefined, 4);
      expect(resets).toBe(0);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("no ssh with the pinned host key");
    });

    test("a guest that was already running is never reset", async () => {
      const { r, resets } = await create(STALL, "running");
      expect(resets).toBe(0);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("no ssh with the pinned host key");
    });
  });

  test("host-create.sh refuses a case folder with a planted keys link, and writes nothing through it", async () => {
    const { plan, env } = setup(undefined);
    fs.rmSync(plan.stateDir, { recursive: true });
    fs.mkdirSync(plan.stateDir, { mode: 0o711 });
    const etc = path.join(scratch, "etc");
    fs.mkdirSync(etc, { mode: 0o755 });
    fs.symlinkSync(etc, plan.keysDir);
    const image = path.join(scratch, "image");
    fs.mkdirSync(image);
    for (const f of ["manifest.json", "rootfs.qcow2", "vmlinuz", "initrd.img"]) fs.writeFileSync(path.join(image, f), "");
    const r = await run(["/bin/bash", "-c", renderHook(CREATE_HOOK, { ...plan.createValues, IMAGE_DIR: image })], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `forensic-lab:stateDir: '${plan.keysDir}' is a symbolic link (to '${etc}'); the lab makes none in the case folder: remove it, and find out who put it there\n`,
    );
    expect(fs.readdirSync(etc)).toEqual([]);
    expect(fs.statSync(etc).mode & 0o7777).toBe(0o755);
    expect(fs.lstatSync(plan.keysDir).isSymbolicLink()).toBe(true);
  });

  describe("host-create.sh refuses a libvirt-isolated network that is not isolated, before making anything", () => {
    const BRIDGE = "<bridge name='virbr7' stp='on' delay='0'/>";
    const ON_NETWORK = " vnet3      network   forensic-isolated   virtio   52:54:00:12:34:56\n";
    const ON_BRIDGE = " vnet4      bridge    virbr7              virtio   52:54:00:12:34:57\n";
    const ELSEWHERE = " vnet5      network   forensic-other      virtio   52:54:00:12:34:58\n";
    test.each([
      [
        "a network with <forward>",
        "<network><name>forensic-isolated</name><forward mode='nat'/></network>",
        "yes",
        "has a <forward> element",
        "",
      ],
      ["a missing network", undefined, "yes", "no libvirt network 'forensic-isolated'", ""],
      ["an inactive network", "<network><name>forensic-isolated</name></network>", "no", "is not active", ""],
      [
        "a network giving the host an address (<ip>)",
        `<network>\n  <name>forensic-isolated</name>\n  ${BRIDGE}\n  <ip address='10.0.2.1' netmask='255.255.255.0'>\n  </ip>\n</network>`,
        "yes",
        "has an <ip> element: the host has an address on it that the guest can reach; use network: user-restricted",
        "",
      ],
      [
        "an IPv6-only host address",
        `<network><name>forensic-isolated</name>${BRIDGE}<ip family='ipv6' address='fd00::1' prefix='64'/></network>`,
        "yes",
        "has an <ip> element",
        "",
      ],
      [
        "ipv6='yes' (a link-local host address)",
        `<network ipv6='yes'><name>forensic-isolated</name>${BRIDGE}</network>`,
        "yes",
        "sets ipv6='yes'",
        "",
      ],
      [
        "a network another domain is on",
        `<network><name>forensic-isolated</name>${BRIDGE}</network>`,
        "yes",
        "'forensic-isolated' is already used by domain 'forensic-someone-else', which could reach this guest; give each case its own network",
        ON_NETWORK,
      ],
      [
        "a network whose bridge another domain is on",
        `<network><name>forensic-isolated</name>${BRIDGE}</network>`,
        "yes",
        "is already used by domain 'forensic-someone-else'",
        ELSEWHERE + ON_BRIDGE,
      ],
    ])("%s", async (_what, xml, active, message, otherInterfaces) => {
      const { fake, plan, env } = setup(undefined, { mode: "libvirt-isolated", name: "forensic-isolated" });
      if (otherInterfaces !== "") fs.writeFileSync(path.join(fake, "iflist-forensic-someone-else"), otherInterfaces);
      fs.rmSync(plan.stateDir, { recursive: true });
      // A complete (empty) image, so the hook gets as far as the network check.
      const image = path.join(scratch, "image");
      fs.mkdirSync(image);
      for (const f of ["manifest.json", "rootfs.qcow2", "vmlinuz", "initrd.img"]) fs.writeFileSync(path.join(image, f), "");
      if (xml !== undefined) fs.writeFileSync(path.join(fake, "net.xml"), xml);
      fs.writeFileSync(path.join(fake, "net-info"), `Name:           forensic-isolated\nActive:         ${active}\n`);
      const r = await run(["/bin/bash", "-c", renderHook(CREATE_HOOK, { ...plan.createValues, IMAGE_DIR: image })], { env });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`isolatedNetwork: `);
      expect(r.stderr).toContain(message);
      expect(fs.existsSync(plan.stateDir)).toBe(false);
    });

    test("a network without <forward>, host address or other domains passes the check", async () => {
      const { fake, plan, env, calls } = setup(undefined, { mode: "libvirt-isolated", name: "forensic-isolated" });
      fs.rmSync(plan.stateDir, { recursive: true });
      fs.writeFileSync(path.join(fake, "net.xml"), `<network><name>forensic-isolated</name>${BRIDGE}</network>`);
      fs.writeFileSync(path.join(fake, "net-info"), "Name:           forensic-isolated\nActive:         yes\n");
      fs.writeFileSync(path.join(fake, "iflist-forensic-someone-else"), ELSEWHERE);
      const r = await run(["/bin/bash", "-c", renderHook(CREATE_HOOK, { ...plan.createValues, IMAGE_DIR: "/nonexistent-image" })], { env });
      // It stops at the (missing) image, which is checked first; with the image there it gets past the network.
      expect(r.stderr).toContain("imageDir: no guest image");
      const image = path.join(scratch, "image");
      fs.mkdirSync(image);
      for (const f of ["manifest.json", "rootfs.qcow2", "vmlinuz", "initrd.img"]) fs.writeFileSync(path.join(image, f), "");
      const past = await run(["/bin/bash", "-c", renderHook(CREATE_HOOK, { ...plan.createValues, IMAGE_DIR: image })], { env });
      expect(past.stderr).not.toContain("isolatedNetwork: ");
      expect(calls()).toContain("-q -c qemu:///system domiflist forensic-someone-else");
      expect(calls()).toContain("-q -c qemu:///system net-info forensic-isolated");
    });
  });
});
