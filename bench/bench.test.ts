/**
 * The pure parts of `npm run bench`: medians, how a key's number is worked out, the results.json
 * schema (and the committed file), and the printed table. Nothing is timed here.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Evidence } from "./host";
import { chainForVmdkmount } from "./peers";
import {
  BENCH_KEY_NAMES,
  BENCH_KEYS,
  buildResults,
  formatPeersTable,
  formatPhaseComparison,
  formatPhases,
  formatSeconds,
  formatTable,
  formatValue,
  Measurement,
  median,
  parseResults,
  PeerRow,
  resultOf,
  roundValue,
  throughputMBps,
  wrap,
} from "./report";
import { busyCpuSeconds } from "./support";

const ratio = (key: Measurement["key"], subject: number[], baseline: number[], how = "how it was measured"): Measurement => ({
  key,
  subject: { label: "lab", samples: subject },
  baseline: { label: "baseline", samples: baseline },
  how,
});

/** One measurement per key, ratios 0.5, 1.5, 2.5, ... and 0.25 s for the seconds key. */
function allKeys(): Measurement[] {
  return BENCH_KEY_NAMES.map((key, i) =>
    BENCH_KEYS[key] === "seconds"
      ? { key, subject: { label: "inspect", samples: [0.3, 0.25, 0.2] }, how: "median of three" }
      : ratio(key, [i + 0.5], [1]),
  );
}

describe("median", () => {
  test("odd count: the middle value, whatever the order", () => {
    expect(median([5])).toBe(5);
    expect(median([9, 1, 4])).toBe(4);
    expect(median([3, 100, 2, 1, 50])).toBe(3);
  });

  test("even count: the mean of the middle two", () => {
    expect(median([4, 1])).toBe(2.5);
    expect(median([10, 1, 3, 7])).toBe(5);
  });

  test("does not reorder the caller's samples", () => {
    const samples = [3, 1, 2];
    median(samples);
    expect(samples).toEqual([3, 1, 2]);
  });

  test("refuses no samples and non-numbers", () => {
    expect(() => median([])).toThrow("median: no samples");
    expect(() => median([1, NaN])).toThrow("sample NaN is not a finite number");
    expect(() => median([Infinity])).toThrow("not a finite number");
  });
});

describe("a key's number", () => {
  test("a ratio is median(lab) / median(baseline)", () => {
    expect(resultOf(ratio("sshfs_vs_scp", [30, 10, 20], [8, 12, 10]))).toBe(2);
    expect(resultOf(ratio("attach_to_read_vs_guestmount", [2, 3], [10, 10]))).toBe(0.25);
  });

  test("a seconds key is the median itself", () => {
    expect(resultOf({ key: "inspect_deep_chain_s", subject: { label: "x", samples: [0.2, 0.1, 0.9] }, how: "" })).toBe(0.2);
  });

  test("a ratio without a baseline, or seconds with one, is a mistake", () => {
    expect(() => resultOf({ key: "destroy_vs_up", subject: { label: "x", samples: [1] }, how: "" })).toThrow(
      "destroy_vs_up: a ratio needs a baseline",
    );
    expect(() => resultOf({ ...ratio("destroy_vs_up", [1], [1]), key: "inspect_deep_chain_s" })).toThrow("a seconds key has no baseline");
  });

  test("a zero-second baseline is refused, naming it", () => {
    expect(() => resultOf(ratio("hash_overhead", [1], [0]))).toThrow("hash_overhead: the baseline 'baseline' took 0 s");
  });
});

describe("results.json", () => {
  test("one rounded number per key, in the keys' order", () => {
    const results = buildResults(allKeys());
    expect(Object.keys(results)).toEqual(BENCH_KEY_NAMES);
    expect(results.attach_to_read_vs_guestmount).toBe(0.5);
    expect(results.inspect_deep_chain_s).toBe(0.25);
    expect(roundValue(1 / 3)).toBe(0.3333);
    expect(roundValue(123456)).toBe(123500);
  });

  test("every key of the assignment, and nothing else", () => {
    expect([...BENCH_KEY_NAMES].sort()).toEqual(
      [
        "attach_to_read_vs_guestmount",
        "boot_vs_appliance",
        "destroy_vs_up",
        "hash_overhead",
        "inspect_deep_chain_s",
        "noop_rerun_vs_first_up",
        "read_vs_guestmount",
        "read_vs_host_raw",
        "sshfs_vs_scp",
        "three_cases_vs_one",
      ].sort(),
    );
  });

  test("a missing or twice-measured key is refused by name", () => {
    expect(() => buildResults(allKeys().filter((m) => m.key !== "sshfs_vs_scp"))).toThrow("not measured: sshfs_vs_scp");
    expect(() => buildResults([...allKeys(), ratio("destroy_vs_up", [1], [1])])).toThrow("destroy_vs_up was measured twice");
  });

  test("the schema wants exactly the keys, each a positive finite number", () => {
    const good = buildResults(allKeys());
    expect(parseResults(JSON.parse(JSON.stringify(good)))).toEqual(good);
    expect(() => parseResults({ ...good, extra: 1 })).toThrow(/results\.json: .*extra/);
    const { hash_overhead: _dropped, ...missing } = good;
    expect(() => parseResults(missing)).toThrow("results.json: hash_overhead:");
    expect(() => parseResults({ ...good, destroy_vs_up: 0 })).toThrow("results.json: destroy_vs_up:");
    expect(() => parseResults({ ...good, destroy_vs_up: -1 })).toThrow("results.json: destroy_vs_up:");
    expect(() => parseResults({ ...good, read_vs_host_raw: "2.5" })).toThrow("results.json: read_vs_host_raw:");
    expect(() => parseResults([1, 2])).toThrow("results.json: results:");
  });

  test("the committed bench/results.json is a complete, valid run", () => {
    const file = path.join(__dirname, "results.json");
    const results = parseResults(JSON.parse(fs.readFileSync(file, "utf8")));
    expect(Object.keys(results)).toEqual(BENCH_KEY_NAMES);
  });
});

describe("the table", () => {
  test("values: ratios with ×, seconds with s, three significant digits", () => {
    expect(formatValue("sshfs_vs_scp", 1.23456)).toBe("1.23×");
    expect(formatValue("sshfs_vs_scp", 0.0456)).toBe("0.0456×");
    expect(formatValue("three_cases_vs_one", 250.4)).toBe("250×");
    expect(formatValue("inspect_deep_chain_s", 0.06789)).toBe("0.0679 s");
    expect(formatSeconds(12.345)).toBe("12.3 s");
    expect(formatSeconds(123.4)).toBe("123 s");
  });

  test("wrap breaks at spaces within the width and keeps an over-long word whole", () => {
    expect(wrap("aa bb cc dd", 5)).toEqual(["aa bb", "cc dd"]);
    expect(wrap("a verylongword b", 6)).toEqual(["a", "verylongword", "b"]);
    expect(wrap("  spaced   out  ", 80)).toEqual(["spaced out"]);
    expect(wrap("", 10)).toEqual([]);
  });

  test("one row per key with both sides, then how it was obtained, wrapped and indented", () => {
    const how = "guestmount started cold ".repeat(10).trim();
    const table = formatTable(
      [
        ratio("attach_to_read_vs_guestmount", [2, 3, 4], [10, 12, 11], how),
        { key: "inspect_deep_chain_s", subject: { label: "inspectImage", samples: [0.07] }, how: "five runs" },
      ],
      80,
    );
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/^key\s+value\s+measured$/);
    expect(lines[1]).toMatch(/^-+$/);
    expect(lines[2]).toBe("attach_to_read_vs_guestmount    0.273×  lab: 3.00 s (median of 3)");
    expect(lines[3]).toBe(`${" ".repeat(40)}vs baseline: 11.0 s (median of 3)`);
    // Every line fits, and the how text survives the wrapping word for word.
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(80);
    const howLines = lines.slice(
      4,
      lines.findIndex((l) => l.startsWith("inspect_deep_chain_s")),
    );
    expect(howLines.length).toBeGreaterThan(1);
    expect(howLines.every((l) => l.startsWith(" ".repeat(30)) && l.trim() !== "")).toBe(true);
    expect(howLines.map((l) => l.trim()).join(" ")).toBe(`how: ${how}`);
    // Value column right-aligned: both values end in the same column.
    const seconds = lines.find((l) => l.startsWith("inspect_deep_chain_s"))!;
    expect(seconds).toBe(`inspect_deep_chain_s${" ".repeat(10)}0.0700 s  inspectImage: 0.0700 s (median of 1)`);
    expect(seconds.indexOf(" s  ")).toBe(lines[2].indexOf("×  ") - 1);
    expect(lines[lines.length - 1].trim()).toBe("how: five runs");
  });
});

describe("the peers table", () => {
  const row = (peer: string, first: number[], read: number[], isolation: string): PeerRow => ({
    peer,
    firstFile: { label: "start to first file", samples: first },
    read: { label: "bulk.bin", samples: read },
    bytes: 1_000_000_000,
    isolation,
    how: "how it was run",
  });

  test("throughput is bytes over the median read time, in MB/s as dd counts them", () => {
    expect(throughputMBps(1_000_000_000, { label: "r", samples: [10, 40, 20] })).toBe(50);
    expect(() => throughputMBps(1, { label: "instant", samples: [0] })).toThrow("instant: took 0 s; no throughput");
  });

  test("one line per tool with its medians and the first word of its isolation fact, then the details", () => {
    const text = formatPeersTable([
      row("forensic-lab", [6, 5, 7], [40, 38], "yes: parsed in a guest"),
      row("Dissect", [2, 1, 3], [10, 12], "no: parsed on the host"),
    ]);
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^peer\s+first file\s+read\s+parser isolated from the host$/);
    const lab = lines.find((l) => l.startsWith("forensic-lab"))!;
    expect(lab).toMatch(/^forensic-lab\s+6\.00 s\s+25\.6 MB\/s\s+yes$/);
    const dissect = lines.find((l) => l.startsWith("Dissect"))!;
    expect(dissect).toMatch(/^Dissect\s+2\.00 s\s+90\.9 MB\/s\s+no$/);
    expect(text).toContain("isolation: no: parsed on the host.");
    expect(text).toContain("First file: start to first file: 2.00 s (median of 3)");
    expect(lines.every((l) => l.length <= 110)).toBe(true);
  });
});

describe("vmdkmount's scratch chain", () => {
  test("descriptors are copied with their parent hint made a file name, extents linked, the evidence untouched", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-vmdkmount-"));
    try {
      const evidenceDir = path.join(dir, "evidence");
      fs.mkdirSync(path.join(evidenceDir, "base"), { recursive: true });
      fs.mkdirSync(path.join(evidenceDir, "snapshots"));
      const descriptor = (hint?: string) =>
        `# Disk DescriptorFile\nCID=1\n${hint ? `parentFileNameHint="${hint}"\n` : ""}RW 8 SPARSE "x-s001.vmdk"\n`;
      const top = path.join(evidenceDir, "snapshots/top.vmdk");
      fs.writeFileSync(top, descriptor(path.join(evidenceDir, "base/base.vmdk")));
      fs.writeFileSync(path.join(evidenceDir, "snapshots/top-s001.vmdk"), "top extent");
      fs.writeFileSync(path.join(evidenceDir, "base/base.vmdk"), descriptor());
      fs.writeFileSync(path.join(evidenceDir, "base/base-s001.vmdk"), "base extent");
      const before = fs.readFileSync(top, "utf8");
      const files = ["snapshots/top.vmdk", "snapshots/top-s001.vmdk", "base/base.vmdk", "base/base-s001.vmdk"];
      const evidence = {
        dir: evidenceDir,
        manifest: { top: "snapshots/top.vmdk", chain: ["snapshots/top.vmdk", "base/base.vmdk"], files: files.map((p) => ({ path: p })) },
      } as unknown as Evidence;

      const scratchTop = chainForVmdkmount(evidence, path.join(dir, "scratch"));

      expect(scratchTop).toBe(path.join(dir, "scratch/top.vmdk"));
      expect(fs.readFileSync(scratchTop, "utf8")).toContain('parentFileNameHint="base.vmdk"');
      expect(fs.lstatSync(path.join(dir, "scratch/top-s001.vmdk")).isSymbolicLink()).toBe(true);
      expect(fs.readFileSync(path.join(dir, "scratch/base-s001.vmdk"), "utf8")).toBe("base extent");
      expect(fs.readFileSync(top, "utf8")).toBe(before);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("where an up spends its time", () => {
  test("hooks only, longest first, with seconds and their share of the wall time", () => {
    const lines = formatPhases(
      [
        { name: "case-guest", hook: true, durationMs: 21_000 },
        { name: "case", hook: false, durationMs: 60_000 },
        { name: "case-win7-transfer-copy", hook: true, durationMs: 30_500 },
        { name: "case-win7-mount", hook: true, durationMs: 1_200 },
      ],
      60,
    );
    expect(lines).toEqual([" 30.5 s   51 %  case-win7-transfer-copy", " 21.0 s   35 %  case-guest", " 1.20 s    2 %  case-win7-mount"]);
  });

  test("one case alone vs each of several: per hook across the stacks, those that lost most first", () => {
    const up = (id: string, guest: number, copy: number, mount?: number) => [
      { name: `bench-${id}-guest-domain`, hook: true, durationMs: guest },
      { name: `bench-${id}`, hook: false, durationMs: 99_000 },
      { name: `bench-${id}-win7-transfer-sshfs`, hook: true, durationMs: copy },
      ...(mount === undefined ? [] : [{ name: `bench-${id}-win7-mount-mount`, hook: true, durationMs: mount }]),
    ];
    const lines = formatPhaseComparison(
      up("a1", 14_000, 10_000, 2_000),
      [up("b2", 30_000, 12_000, 1_500), up("c3", 41_000, 11_000)],
      (name) => name.replace(/^bench-[0-9a-f]+-/, ""),
    );
    expect(lines).toEqual([
      " 14.0 s -> 30.0 s / 41.0 s  (+27.0 s)  guest-domain",
      " 10.0 s -> 12.0 s / 11.0 s  (+2.00 s)  win7-transfer-sshfs",
      " 2.00 s -> 1.50 s / -  (+0.00 s)  win7-mount-mount",
    ]);
  });
});

describe("how busy the host was (/proc/stat)", () => {
  test("user, nice, system, irq, softirq and steal count, in USER_HZ (100); idle and iowait do not", () => {
    //                  user nice system idle  iowait irq softirq steal guest guest_nice
    const stat = "cpu  4000 100 500 900000 7000 20 30 50 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
    expect(busyCpuSeconds(stat)).toBeCloseTo(47);
  });

  test("anything but the cpu line first is refused, not read as zeros", () => {
    expect(() => busyCpuSeconds("intr 1 2 3\n")).toThrow(/does not start with the cpu line/);
  });
});
