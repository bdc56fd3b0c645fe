/**
 * The harness's sweep of test guests whose run is gone (removeGuestsOfGoneRuns). The domains here are
 * defined, never started: the sweep looks at definitions and state folders only.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ensureLibvirt, LIBVIRT_URI, removeGuestsOfGoneRuns, run } from "./harness";
import { processIdentity } from "../support/processes";

/** Defines a stopped domain whose one disk is `<folder>/disks/overlay.qcow2`, as a test guest's is. */
async function defineDomain(name: string, folder: string): Promise<void> {
  fs.mkdirSync(path.join(folder, "disks"), { recursive: true });
  const disk = path.join(folder, "disks", "overlay.qcow2");
  fs.writeFileSync(disk, "");
  const xml = path.join(folder, "domain.xml");
  fs.writeFileSync(
    xml,
    `<domain type="qemu"><name>${name}</name><memory unit="MiB">64</memory><os><type arch="x86_64">hvm</type></os>` +
      `<devices><disk type="file" device="disk"><driver name="qemu" type="raw"/><source file="${disk}"/>` +
      `<target dev="vda" bus="virtio"/></disk></devices></domain>`,
  );
  const r = await run(["virsh", "-c", LIBVIRT_URI, "define", xml]);
  if (r.code !== 0) throw new Error(`virsh define ${name}: ${r.stderr}`);
}

const defined = async (name: string) => (await run(["virsh", "-c", LIBVIRT_URI, "dominfo", name])).code === 0;

/** The identity of a process that has exited (a child waited for). */
async function goneIdentity(): Promise<string> {
  const child = spawn("sleep", ["0.2"], { stdio: "ignore" });
  const identity = processIdentity(child.pid!)!;
  await new Promise((resolve) => child.on("close", resolve));
  return identity;
}

describe("removeGuestsOfGoneRuns", () => {
  const suffix = `${process.pid}-${Date.now() % 100000}`;
  const names = { gone: `forensic-sweep-gone-${suffix}`, live: `forensic-sweep-live-${suffix}`, lab: `forensic-sweep-lab-${suffix}` };
  const folders: string[] = [];

  beforeAll(() => ensureLibvirt(), 60_000);
  afterAll(async () => {
    for (const name of Object.values(names)) await run(["virsh", "-c", LIBVIRT_URI, "undefine", name]);
    for (const folder of folders) for (const f of [folder, `${folder}.owner`]) fs.rmSync(f, { recursive: true, force: true });
  });

  test("removes a guest whose run is gone, with its state folder; a live run's guest and a lab's guest stay", async () => {
    const stateFolder = (name: string) => {
      const folder = fs.mkdtempSync(path.join(os.tmpdir(), `forensic-guest-${name}-`));
      folders.push(folder);
      return folder;
    };
    const goneFolder = stateFolder("sweep-gone");
    fs.writeFileSync(`${goneFolder}.owner`, `${await goneIdentity()}\n`);
    await defineDomain(names.gone, goneFolder);
    const liveFolder = stateFolder("sweep-live");
    fs.writeFileSync(`${liveFolder}.owner`, `${processIdentity(process.pid)}\n`);
    await defineDomain(names.live, liveFolder);
    // A lab's own guest: its case folder holds no owner file, whatever its name.
    const labFolder = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-case-sweep-"));
    folders.push(labFolder);
    await defineDomain(names.lab, labFolder);

    const removed = await removeGuestsOfGoneRuns();
    expect(removed.filter((r) => r.includes("-sweep-"))).toEqual([
      expect.stringMatching(new RegExp(`^${names.gone} \\(booted by pid \\d+, gone\\)$`)),
    ]);
    expect(await defined(names.gone)).toBe(false);
    expect(fs.existsSync(goneFolder)).toBe(false);
    expect(fs.existsSync(`${goneFolder}.owner`)).toBe(false);
    expect(await defined(names.live)).toBe(true);
    expect(fs.existsSync(path.join(liveFolder, "disks"))).toBe(true);
    expect(await defined(names.lab)).toBe(true);
  });
});
