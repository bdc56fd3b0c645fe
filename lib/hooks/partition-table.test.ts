/**
 * lib/hooks/partition-table.sh: NbdAttachment's result from `sfdisk --json`, read by bash for the usual
 * shape and by jq otherwise. Both readers must agree on every table sfdisk really writes (made here
 * with sfdisk on scratch files, the same util-linux as the guest's), including partition names a hostile
 * image chose to look like the keys bash reads; and anything off the usual shape must go to jq.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderHook } from "../shell";

const library = renderHook("lib/hooks/partition-table.sh", {});
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-ptable-"));
const noJq = path.join(scratch, "no-jq");
fs.mkdirSync(noJq);
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const DEVICE = "/dev/nbd3";

/** REPLY of `fn DEVICE 512 TABLE`; `withJq: false` leaves jq off PATH (then only bash can answer). */
function read(fn: "partition_table_result" | "partition_table_by_jq", table: string, withJq = true) {
  const text = `${library}\nset -euo pipefail\n${fn} "$@"\nprintf '%s' "$REPLY"\n`;
  const env = { PATH: withJq ? (process.env.PATH ?? "") : noJq, SHLVL: "1" };
  return spawnSync("/bin/bash", ["-c", text, "ptable-test", DEVICE, "512", table], {
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/**
 * sfdisk's JSON for a scratch disk made from `script` (then GPT partition names set from `names`, which
 * sfdisk's script syntax cannot quote), its nodes named as on /dev/nbd3 in the guest.
 */
function tableOf(name: string, script: string, names: string[] = []): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, "");
  fs.truncateSync(file, 64 * 1024 * 1024);
  const made = spawnSync("sfdisk", ["-q", file], { input: script, encoding: "utf8" });
  if (made.status !== 0) throw new Error(`sfdisk could not write ${name}: ${made.stderr}`);
  names.forEach((label, i) => {
    const named = spawnSync("sfdisk", ["-q", "--part-label", file, String(i + 1), label], { encoding: "utf8" });
    if (named.status !== 0) throw new Error(`sfdisk could not name partition ${i + 1} of ${name}: ${named.stderr}`);
  });
  const json = spawnSync("sfdisk", ["--json", file], { encoding: "utf8" });
  if (json.status !== 0) throw new Error(`sfdisk --json ${name}: ${json.stderr}`);
  // sfdisk names a file's partitions <file><N> (no "p": the name does not end in a digit).
  return json.stdout.split(`"${file}`).join(`"${DEVICE}p`).replace(`"device": "${DEVICE}p"`, `"device": "${DEVICE}"`);
}

const tables: [string, string, string[]][] = [
  [
    "gpt, three partitions, names",
    "label: gpt\nsize=8M, type=L\nsize=8M, type=0FC63DAF-8483-4772-8E79-3D69D847D8E4\ntype=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n",
    ["root", "data"],
  ],
  ["dos, primary, extended and logical", "label: dos\n,8M,83,*\n,8M,7\n,,5\n,4M,83\n,4M,b\n", []],
  [
    "gpt, names that look like the keys bash reads",
    "label: gpt\nsize=8M\nsize=8M\nsize=8M\n",
    ['"node": "/dev/nbd3p9",', '"start": 1, "size": 2', '"type": "x"\n  "label": "dos",\n  "start": 5,'],
  ],
];

test.each(tables)("%s: bash and jq read the same table, and bash needed no jq", (name, script, names) => {
  const table = tableOf(name.replace(/\W+/g, "-"), script, names);
  const byBash = read("partition_table_result", table, false);
  const byJq = read("partition_table_by_jq", table);
  expect(byBash.stderr).toBe("");
  expect(byJq.status).toBe(0);
  const result = JSON.parse(byBash.stdout);
  expect(result).toEqual(JSON.parse(byJq.stdout));
  expect(result.device).toBe(DEVICE);
  expect(result.partitions.length).toBeGreaterThanOrEqual(3);
  for (const p of result.partitions) {
    expect(p.node).toBe(`${DEVICE}p${p.number}`);
    expect(p.byteOffset).toBe(p.startSector * 512);
  }
});

test("no partition table (a filesystem on the whole disk): label null, no partitions, without jq", () => {
  const r = read("partition_table_result", "", false);
  expect(JSON.parse(r.stdout)).toEqual({ device: DEVICE, sectorSize: 512, label: null, partitions: [] });
  expect(JSON.parse(read("partition_table_by_jq", "").stdout)).toEqual(JSON.parse(r.stdout));
});

describe("anything off the usual shape is left to jq, which reads it properly", () => {
  const usual = tableOf("usual", "label: dos\n,8M,83\n,8M,7\n");
  test.each<[string, string]>([
    ["a partition of another device", usual.replace(`"${DEVICE}p2"`, '"/dev/nbd4p2"')],
    ["a type that is not a plain word", usual.replace('"type": "7"', '"type": "7 \\"x\\""')],
    ["two keys on one line", usual.replace(/"start": 2048,\n\s*"size"/, '"start": 2048, "size"')],
    ["a start that is not a number", usual.replace('"start": 2048', '"start": "2048"')],
  ])("%s", (_what, table) => {
    expect(table).not.toBe(usual);
    const withoutJq = read("partition_table_result", table, false);
    expect(withoutJq.status).not.toBe(0); // bash did not answer on its own
    const r = read("partition_table_result", table);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(read("partition_table_by_jq", table).stdout));
  });

  test("a table jq cannot read either is an error, not a guess", () => {
    expect(read("partition_table_result", usual.replace('"start": 2048', '"start": 2048 x')).status).not.toBe(0);
  });
});
