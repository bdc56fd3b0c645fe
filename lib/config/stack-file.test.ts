import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { parseCaseConfig } from "./parse";
import { DEFAULT_LIBVIRT_URI, KNOWN_KEYS } from "./schema";
import { loadStackFile } from "./stack-file";
import { configErrorOf } from "../../test/support/config-error";

const root = path.resolve(__dirname, "../..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-stack-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function stackFile(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
}

const shipped = [
  ...fs.readdirSync(path.join(root, "stacks")).map((f) => `stacks/${f}`),
  ...fs.readdirSync(path.join(root, "examples")).map((f) => `examples/${f}`),
  // The copies runs make of shipped files (gitignored): the e2e's Pulumi.e2e-*.yaml, there only while
  // `npm run e2e` runs, and the demo's stack file, which its pulumi writes the encrypted passphrase into.
].filter(
  (f) => /^Pulumi\..+\.yaml$/.test(path.basename(f)) && !/^Pulumi\.e2e-/.test(path.basename(f)) && f !== "stacks/Pulumi.case-demo.yaml",
);

describe("shipped stack files", () => {
  test("the demo, CI and production example are all there", () => {
    expect(shipped.sort()).toEqual(["examples/Pulumi.case-demo.yaml", "examples/Pulumi.case-prod-lvm.yaml", "stacks/Pulumi.case-ci.yaml"]);
  });

  // Their evidence lives on the lab host, not necessarily on the machine running the tests.
  test.each(shipped)("%s validates, named after its case, with no passphrase in the file", (file) => {
    const config = loadStackFile(path.join(root, file), { checkFiles: false });
    expect(path.basename(file)).toBe(`Pulumi.${config.caseId}.yaml`);
    expect(config.evidenceVolumePassphrase).toBeUndefined();
    expect(config.warnings.map((w) => w.key)).toContain("forensic-lab:evidenceVolumePassphrase");
    expect(fs.readFileSync(path.join(root, file), "utf8")).not.toMatch(/evidenceVolumePassphrase:\s*\S/);
  });

  test("demo: one vmdk over sshfs, all partitions, file volume, local libvirt", () => {
    const c = loadStackFile(path.join(root, "examples/Pulumi.case-demo.yaml"), { checkFiles: false });
    expect(c.libvirtHost).toEqual({ kind: "local", uri: "qemu:///system", sshTarget: "", sshPort: 0, jumpHost: "" });
    expect(c.evidenceVolume).toMatchObject({
      backend: "file",
      path: "/var/lib/forensic-lab/cases/case-demo/evidence.luks",
      fastKdfForTestsOnly: false,
      retain: false,
    });
    expect(c.images).toEqual([
      {
        name: "win7",
        path: "/var/lib/forensic-lab/demo-evidence/snapshots/win7-000002.vmdk",
        format: "vmdk",
        transfer: "sshfs",
        mountRoot: "/mnt/forensic/win7",
        partitions: "all",
        luksKeys: [],
        bitlockerKeys: [],
        roots: ["/var/lib/forensic-lab/demo-evidence"],
      },
    ]);
  });

  test("CI: the same vmdk by sshfs and by scp, the same disk as an E01 set, a LUKS/LVM laptop disk, a NAS's RAID5 with LVM inside, a small fast-KDF volume, 2 GiB of guest memory", () => {
    const c = loadStackFile(path.join(root, "stacks/Pulumi.case-ci.yaml"), { checkFiles: false });
    expect(c.images.map((i) => [i.name, i.transfer, i.path])).toEqual([
      ["win7-sshfs", "sshfs", "/var/lib/forensic-lab/ci-evidence/snapshots/win7-000002.vmdk"],
      ["win7-scp", "scp", "/var/lib/forensic-lab/ci-evidence/snapshots/win7-000002.vmdk"],
      ["win7-e01", "sshfs", "/var/lib/forensic-lab/ci-evidence/ewf/win7.E01"],
      ["laptop", "sshfs", "/var/lib/forensic-lab/ci-volume-evidence/laptop/laptop.raw"],
      ["nas1", "sshfs", "/var/lib/forensic-lab/ci-volume-evidence/nas/nas1.raw"],
      ["nas2", "sshfs", "/var/lib/forensic-lab/ci-volume-evidence/nas/nas2.raw"],
      ["nas3", "sshfs", "/var/lib/forensic-lab/ci-volume-evidence/nas/nas3.raw"],
    ]);
    expect(c.images.map((i) => i.roots)).toEqual([
      ...Array(3).fill(["/var/lib/forensic-lab/ci-evidence"]),
      ...Array(4).fill(["/var/lib/forensic-lab/ci-volume-evidence"]),
    ]);
    expect(c.raidArrays).toEqual([
      {
        name: "nas",
        members: [1, 2, 3].map((n) => ({ image: `nas${n}`, partition: 1 })),
        mountRoot: "/mnt/forensic/arrays/nas",
        partitions: "all",
        luksKeys: [],
        bitlockerKeys: [],
      },
    ]);
    expect(c.images[3].luksKeys.map(({ at, configKey }) => [at, configKey])).toEqual([
      [2, "ci-laptop-p2-key"],
      ["evidencevg/home", "ci-laptop-home-key"],
    ]);
    expect(c.evidenceVolume).toMatchObject({ backend: "file", sizeGiB: 2, fastKdfForTestsOnly: true });
    expect(c.guest.memoryMiB).toBe(2048);
  });

  test("production example: LVM volume group on a remote libvirt host", () => {
    const c = loadStackFile(path.join(root, "examples/Pulumi.case-prod-lvm.yaml"), { checkFiles: false });
    expect(c.libvirtHost).toMatchObject({
      kind: "ssh",
      user: "examiner",
      host: "kvm01.example.org",
      sshPort: 22,
      jumpHost: "examiner@kvm01.example.org",
    });
    expect(c.evidenceVolume).toEqual({ backend: "lvm", volumeGroup: "vg_cases", sizeGiB: 500, retain: false, fastKdfForTestsOnly: false });
    expect(c.images[0].partitions).toEqual([
      { number: 1, mountPoint: "/mnt/forensic/win7/p1", options: [] },
      { number: 2, mountPoint: "/mnt/forensic/win7/system", options: ["show_sys_files", "streams_interface=windows"] },
    ]);
  });

  test("the production example explains every key it sets", () => {
    const lines = fs.readFileSync(path.join(root, "examples/Pulumi.case-prod-lvm.yaml"), "utf8").split("\n");
    const firstUse = new Map<string, number>();
    lines.forEach((line, i) => {
      const key = /^\s*(?:-\s+)?(?:forensic-lab:)?([A-Za-z]+):/.exec(line)?.[1];
      if (key !== undefined && key !== "config" && !firstUse.has(key)) firstUse.set(key, i);
    });
    expect(firstUse.size).toBeGreaterThanOrEqual(25);
    const undocumented = [...firstUse].filter(([, i]) => !lines.slice(Math.max(0, i - 4), i + 1).some((l) => l.includes("#")));
    expect(undocumented.map(([key]) => key)).toEqual([]);
  });

  test("with the evidence present, the demo stack passes the file checks", () => {
    const image = path.join(tmp, "evidence", "snapshots", "win7-000002.vmdk");
    fs.mkdirSync(path.dirname(image), { recursive: true });
    fs.writeFileSync(image, "# Disk DescriptorFile\n");
    const text = fs
      .readFileSync(path.join(root, "examples/Pulumi.case-demo.yaml"), "utf8")
      .replace("/var/lib/forensic-lab/demo-evidence/snapshots/win7-000002.vmdk", image);
    const c = loadStackFile(stackFile("Pulumi.case-demo.yaml", text), { checkFiles: true });
    expect(c.images[0].path).toBe(image);
  });
});

describe("stack file reading", () => {
  const base = `config:
  forensic-lab:caseId: case-x
  forensic-lab:examiner: Erika
  forensic-lab:images:
    - name: a
      path: /e/a.vmdk
`;

  test("a secure passphrase is accepted and recognised as set; a plain one is refused", () => {
    const secure = loadStackFile(
      stackFile("Pulumi.case-x.yaml", `${base}  forensic-lab:evidenceVolumePassphrase:\n    secure: v1:c2FsdA==:Y2lwaGVy\n`),
      { checkFiles: false },
    );
    expect(secure.warnings).toEqual([]);
    const file = stackFile("Pulumi.case-x.yaml", `${base}  forensic-lab:evidenceVolumePassphrase: hunter2-hunter2-hunter2\n`);
    const err = configErrorOf(() => loadStackFile(file, { checkFiles: false }));
    expect(err.message).toBe(
      `${file}: forensic-lab:evidenceVolumePassphrase: is in plain text; remove it from the stack file and set it with \`pulumi config set --secret evidenceVolumePassphrase\` (pipe it on stdin)`,
    );
    expect(err.message).not.toContain("hunter2");
  });

  test("the program's rule: an encrypted value cannot stand in for a decrypted one", () => {
    const file = stackFile("Pulumi.case-x.yaml", `${base}  forensic-lab:evidenceVolumePassphrase:\n    secure: v1:abc\n`);
    expect(configErrorOf(() => loadStackFile(file, { checkFiles: false, requirePassphrase: true })).issues).toEqual([
      {
        key: "forensic-lab:evidenceVolumePassphrase",
        message: "is encrypted in the stack file; only a Pulumi program run by the engine can read it",
      },
    ]);
  });

  test("a secret anywhere else (pulumi config set --path --secret) is refused", () => {
    const file = stackFile("Pulumi.case-x.yaml", `${base}  forensic-lab:guest:\n    memoryMiB:\n      secure: v1:abc\n`);
    expect(configErrorOf(() => loadStackFile(file, { checkFiles: false })).message).toBe(
      `${file}: forensic-lab:guest: is stored as a secret, but only evidenceVolumePassphrase is secret; set it in plain text (pulumi config set without --secret)`,
    );
  });

  test("top-level scalars are text, as the engine passes them", () => {
    const file = stackFile("Pulumi.case-x.yaml", base.replace("Erika", "12345"));
    expect(loadStackFile(file, { checkFiles: false }).examiner).toBe("12345");
  });

  test("other namespaces are ignored; a near-miss of ours and a key without namespace are not", () => {
    const file = stackFile(
      "Pulumi.case-x.yaml",
      `${base}  aws:region: eu-central-1\n  pulumi:disable-default-providers: ["*"]\n  forensic_lab:stateDir: /srv\n  retain: true\n`,
    );
    expect(configErrorOf(() => loadStackFile(file, { checkFiles: false })).message).toBe(
      [
        `${file}: forensic_lab:stateDir: unknown namespace 'forensic_lab'; did you mean 'forensic-lab:stateDir'?`,
        `${file}: retain: has no namespace; write 'forensic-lab:retain'`,
      ].join("\n"),
    );
  });

  test("namespace problems are reported together with config problems", () => {
    const file = stackFile("Pulumi.case-x.yaml", `${base.replace("case-x", "X")}  forensiclab:examiner: E\n`);
    expect(configErrorOf(() => loadStackFile(file, { checkFiles: false })).issues.map((i) => i.key)).toEqual([
      "forensiclab:examiner",
      "forensic-lab:caseId",
    ]);
  });

  test("YAML syntax errors name the line", () => {
    const file = stackFile("Pulumi.case-x.yaml", "config:\n  forensic-lab:caseId: [unclosed\n");
    const err = configErrorOf(() => loadStackFile(file));
    expect(err.issues).toHaveLength(1);
    expect(err.message).toMatch(new RegExp(`^${file}: line \\d+, column \\d+: not valid YAML: `));
  });

  test("a key given twice is an error, not a silent override", () => {
    const file = stackFile("Pulumi.case-x.yaml", `${base}  forensic-lab:caseId: case-y\n`);
    expect(configErrorOf(() => loadStackFile(file)).message).toMatch(/: line 7, column 3: not valid YAML: Map keys must be unique$/);
  });

  test("a file without a config mapping, a missing file, a folder", () => {
    const noConfig = stackFile("Pulumi.case-x.yaml", "encryptionsalt: v1:abc\n");
    expect(configErrorOf(() => loadStackFile(noConfig)).message).toBe(
      `${noConfig}: has no 'config:' mapping; a stack file looks like 'config:\\n  forensic-lab:caseId: case-42'`,
    );
    const missing = path.join(tmp, "Pulumi.nope.yaml");
    expect(configErrorOf(() => loadStackFile(missing)).message).toBe(
      `${missing}: no such file; give the path of a stack file such as stacks/Pulumi.<case>.yaml`,
    );
    expect(configErrorOf(() => loadStackFile(tmp)).message).toBe(`${tmp}: cannot be read (EISDIR)`);
  });
});

describe("Pulumi.yaml config block", () => {
  const project = YAML.parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8"));
  const declared: Record<string, Record<string, unknown>> = project.config;

  test("declares exactly the schema's keys, except stateDir (its default derives from caseId)", () => {
    expect(Object.keys(declared).sort()).toEqual(KNOWN_KEYS.top.filter((k) => k !== "stateDir").sort());
  });

  // That the Pulumi CLI itself accepts the block, and enforces what it declares, is checked with the
  // real CLI by `npm run e2e` ("the CLI accepts Pulumi.yaml's config block ...").

  test("what the CLI requires (declared without default) is what the schema requires", () => {
    const cliRequired = Object.entries(declared)
      .filter(([, d]) => d.default === undefined)
      .map(([k]) => k)
      .sort();
    expect(cliRequired).toEqual(["caseId", "evidenceVolumePassphrase", "examiner", "images"]);
    const err = configErrorOf(() => parseCaseConfig({}, { file: "f", secretKeys: new Set(), requirePassphrase: true, checkFiles: false }));
    expect(
      err.issues
        .filter((i) => /is (required|not set)/.test(i.message))
        .map((i) => i.key.replace("forensic-lab:", ""))
        .sort(),
    ).toEqual(cliRequired);
  });

  test("its defaults agree with the schema's", () => {
    expect(declared.libvirtUri.default).toBe(DEFAULT_LIBVIRT_URI);
    expect(declared.evidenceVolumePassphrase).toMatchObject({ type: "string", secret: true });
    const raw = {
      caseId: "case-x",
      examiner: "E",
      images: [{ name: "a", path: "/e/a.vmdk" }],
      guest: JSON.stringify(declared.guest.default),
      evidenceVolume: JSON.stringify(declared.evidenceVolume.default),
      raidArrays: JSON.stringify(declared.raidArrays.default),
      libvirtUri: declared.libvirtUri.default,
    };
    const withProjectDefaults = parseCaseConfig(raw, { file: "f", secretKeys: new Set(), requirePassphrase: false, checkFiles: false });
    const withNothing = parseCaseConfig(
      { caseId: "case-x", examiner: "E", images: raw.images },
      { file: "f", secretKeys: new Set(), requirePassphrase: false, checkFiles: false },
    );
    expect(withProjectDefaults).toEqual(withNothing);
  });
});
