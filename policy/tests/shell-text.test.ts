import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as fc from "fast-check";
import { hookBody, renderHook, shellQuote } from "../../lib/shell";
import { writeCapability } from "../lib/evidence-writes";
import { decodedTexts, invocationsIn, parseScript, readHookText, resolveWord, wordsIn } from "../lib/shell-text";
import { hookFile } from "../../lib/hook-file";

const MDADM_WHY =
  "may assemble, create or change an md array, or rewrite its members' superblocks (mdadm without --examine/--query/--detail)";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-shell-text-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function scratchHook(body: string): string {
  const file = path.join(dir, `hook-${Math.random().toString(36).slice(2)}.sh`);
  fs.writeFileSync(file, `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`);
  return file;
}

const commands = (text: string) => invocationsIn(text).map((i) => `${i.program}: ${i.args.map((a) => a.text).join(" ")}`);

describe("parseScript", () => {
  it("splits commands on separators, drops comments and redirection targets, removes quotes", () => {
    const script = [
      "# mount -o rw /dev/sda1 /mnt",
      'if ! findmnt --source "$DEV" >/dev/null 2>&1; then mount -o "ro,${OPTS}" "$DEV" /mnt/p1 || exit 1; fi # mount -w',
      "echo 'mount failed' >&2",
    ].join("\n");
    const words = parseScript(script).map((c) => c.words.map((w) => resolveWord(w, new Map([["DEV", "/dev/nbd0p1"]])).text));
    expect(words).toEqual([
      ["if", "!", "findmnt", "--source", "/dev/nbd0p1"],
      ["then", "mount", "-o", "ro,${OPTS}", "/dev/nbd0p1", "/mnt/p1"],
      ["exit", "1"],
      ["fi"],
      ["echo", "mount failed"],
    ]);
  });

  it("reads command substitutions, backticks, process substitutions and here-documents as scripts", () => {
    const script = [
      'dev=$(losetup -f --show "$IMG")',
      'echo "`mount -w /a /b`" <(qemu-nbd -c /dev/nbd1 x.raw)',
      "bash <<EOF",
      "mount /dev/sdb1 /mnt",
      "EOF",
      "echo after",
    ].join("\n");
    expect(commands(script)).toEqual([
      "losetup: -f --show $IMG",
      "mount: -w /a /b",
      "qemu-nbd: -c /dev/nbd1 x.raw",
      "echo: `mount -w /a /b` <(qemu-nbd -c /dev/nbd1 x.raw)",
      "bash: ",
      "mount: /dev/sdb1 /mnt",
      "echo: after",
    ]);
  });

  it("reads a case item's pattern as a pattern and its body as commands", () => {
    // `node)` and `rm|dd)` are matched against $x, never run; every body runs, `;&` and `;;&` included.
    const script = [
      'case "$x" in',
      "  node) mount -o ro /dev/a /a ;;",
      "  rm|dd | @(mkfs|wipefs))",
      "    blockdev --setro /dev/b ;&",
      "  (*) umount /c ;;&",
      '  $(losetup -f "$IMG")) echo x ;;',
      "  *)",
      '    case "$y" in fsck) mount -w /d /e ;; esac',
      "esac",
      "echo after",
    ].join("\n");
    expect(commands(script)).toEqual([
      "case: $x in",
      "mount: -o ro /dev/a /a",
      "blockdev: --setro /dev/b",
      "umount: /c",
      "losetup: -f $IMG",
      "echo: x",
      "case: $y in",
      "mount: -w /d /e",
      "esac: ",
      "esac: ",
      "echo: after",
    ]);
  });

  it("reads what does not end like a case pattern as commands: a misread shows commands, never hides one", () => {
    expect(commands("case $x in\n  mount -w /dev/a /b\nesac")).toContain("mount: -w /dev/a /b");
    expect(commands("case $x in mount -w /dev/a /b; umount /b) :;; esac")).toContain("mount: -w /dev/a /b");
    expect(commands("case $x in wipefs -a /dev/c")).toContain("wipefs: -a /dev/c");
    expect(commands("case $x in a) :;;& b >/dev/x) :;; esac")).toContain("b: ");
  });

  it("never throws on broken input", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        parseScript(text);
        invocationsIn(text);
      }),
      { numRuns: 500 },
    );
  });
});

describe("invocationsIn", () => {
  it("finds the program behind keywords, assignments and wrappers", () => {
    const script =
      "LC_ALL=C sudo -u root timeout 30 env X=1 /usr/bin/mount -o ro /dev/x /y\nexec \\qemu-nbd -r -c /dev/nbd0 a\nif ! command losetup -r -f x; then :; fi";
    expect(commands(script)).toEqual(["mount: -o ro /dev/x /y", "qemu-nbd: -r -c /dev/nbd0 a", "losetup: -r -f x", ":: "]);
  });

  it("opens the in-guest wrapper's INNER_HOOK and substitutes the inner prelude's constants", () => {
    const inner = renderHook(scratchHook('qemu-nbd --read-only --format="$FORMAT" --connect="$DEVICE" "$IMAGE"'), {
      FORMAT: "vmdk",
      DEVICE: "/dev/nbd0",
      IMAGE: "/evidence/it's.vmdk",
    });
    const outer = renderHook(scratchHook('ssh guest -- "bash -c $(printf %q "$INNER_HOOK")"'), { INNER_HOOK: inner });
    expect(commands(outer)).toContain("qemu-nbd: --read-only --format=vmdk --connect=/dev/nbd0 /evidence/it's.vmdk");
  });

  it("finds where a function ends though its body quotes a ' inside double quotes", () => {
    // posix_quote (lib/hooks/common.sh) writes "'${word//\'/...}' ". Read as the start of a single-quoted
    // string, that ' hid where the function ended, and a jq substitution in host-sshfs.sh, which includes
    // it, read as a program chosen at run time.
    const opaque = readHookText(hookBody(hookFile("image-transfer", "host-sshfs.sh"))).opaque;
    expect(opaque.filter((o) => o.text.includes("jq"))).toEqual([]);
  });

  it("reads command strings given to bash -c, eval and ssh", () => {
    const script = "bash -ec 'mount /dev/sda1 /mnt'\neval \"losetup -f x\"\nssh -p 22 -i key root@guest qemu-nbd -c /dev/nbd0 x";
    expect(commands(script)).toEqual(expect.arrayContaining(["mount: /dev/sda1 /mnt", "losetup: -f x", "qemu-nbd: -c /dev/nbd0 x"]));
  });
});

describe("wordsIn and decodedTexts", () => {
  it("wordsIn leaves comments out and puts prelude values in", () => {
    const text = renderHook(scratchHook('# noload\nmount -o "ro,$OPTS" /dev/x /y'), { OPTS: "norecovery" });
    const words = wordsIn(text);
    expect(words).toContain("ro,norecovery");
    expect(words).toContain("norecovery");
    expect(words.join(" ")).not.toContain("noload");
  });

  it("decodedTexts shows a quoted value as bash would see it", () => {
    const secret = "pa'ss phrase";
    const text = renderHook(scratchHook("true"), { INNER_HOOK: renderHook(scratchHook("true"), { P: secret }) });
    expect(text.includes(secret)).toBe(false);
    expect(decodedTexts(text).some((t) => t.includes(secret))).toBe(true);
    expect(shellQuote(secret)).toBe("'pa'\\''ss phrase'");
  });
});

describe("writeCapability", () => {
  const why = (line: string) => invocationsIn(line).map(writeCapability)[0];

  it.each([
    ["mount", undefined],
    ["mount -l -t ext4", undefined],
    ["mount -o ro,noload /dev/nbd0p1 /mnt/p1", undefined],
    ["mount -r /dev/nbd0p1 /mnt/p1", undefined],
    ["mount --read-only /dev/nbd0p1 /mnt/p1", undefined],
    ["mount -o remount,ro /mnt/p1", undefined],
    ["mount --make-rprivate /mnt", undefined],
    ["mount /dev/nbd0p1 /mnt/p1", "has no literal read-only flag (-r, --read-only, -o ro)"],
    ["mount -o noload /dev/nbd0p1 /mnt/p1", "has no literal read-only flag (-r, --read-only, -o ro)"],
    ["mount -o ro,rw /dev/nbd0p1 /mnt/p1", "carries the write-enabling option 'rw'"],
    ["mount -w -o ro /dev/nbd0p1 /mnt/p1", "asks for read-write (-w/--rw)"],
    ["mount --bind /evidence /mnt/x", "has no literal read-only flag (-r, --read-only, -o ro)"],
    ["ntfs-3g -o ro,norecover /dev/nbd0p1 /mnt/p1", undefined],
    ["ntfs-3g -o remove_hiberfile,ro /dev/nbd0p1 /mnt/p1", "carries the write-enabling option 'remove_hiberfile'"],
    ["ntfs-3g /dev/nbd0p1 /mnt/p1", "has no literal read-only flag (-o ro)"],
    ["mount.ntfs-3g /dev/nbd0p1 /mnt/p1 -o ro", undefined],
    ["sshfs -o passive,ro :/evidence /evidence/img", undefined],
    ["sshfs -o passive :/evidence /evidence/img", "has no literal read-only flag (-o ro)"],
    ["qemu-nbd --read-only --format=vmdk --connect=/dev/nbd0 x.vmdk", undefined],
    ["qemu-nbd -rc /dev/nbd0 -f raw x.raw", undefined],
    ["qemu-nbd -c /dev/nbd0 -f raw x.raw", "exports the image writable (no -r/--read-only)"],
    ["qemu-nbd --disconnect /dev/nbd0", undefined],
    ["qemu-nbd -d /dev/nbd0", undefined],
    ["losetup -r -f --show x.raw", undefined],
    ["losetup -fr --show x.raw", undefined],
    ["losetup -f --show x.raw", "attaches a loop device writable (no -r/--read-only)"],
    ["losetup -d /dev/loop0", undefined],
    ["losetup -f", undefined],
    ["guestmount -a x.vmdk -i --ro /mnt", undefined],
    ["guestmount -a x.vmdk -i /mnt", "has no --ro"],
    ["kpartx -av /dev/loop0", "adds partition mappings writable (no -r)"],
    ["kpartx -arv /dev/loop0", undefined],
    ["qemu-img info --output=json x.vmdk", undefined],
    ["qemu-img commit x.vmdk", "modifies the image (qemu-img commit)"],
    ["qemu-img check -r all x.qcow2", "repairs the image (qemu-img check -r)"],
    ["qemu-img snapshot -l x.qcow2", undefined],
    ["ntfsfix -n /dev/nbd0p1", undefined],
    ["ntfsfix /dev/nbd0p1", "repairs the NTFS volume (no -n/--no-action)"],
    ["e2fsck -fn /dev/nbd0p1", undefined],
    ["fsck.ext4 -p /dev/nbd0p1", "may repair the filesystem (no -n/-N)"],
    ["mkfs.ext4 /dev/nbd0p1", "creates a filesystem"],
    ["blockdev --setrw /dev/nbd0", "makes the device writable (blockdev --setrw)"],
    ["mdadm --examine /dev/nbd0p1", undefined],
    ["mdadm -E --scan", undefined],
    ["mdadm --assemble --readonly /dev/md0 /dev/nbd0p1", MDADM_WHY],
    ["mdadm --incremental /dev/nbd0p1", MDADM_WHY],
    ["mdadm /dev/md0 --add /dev/nbd0p1", MDADM_WHY],
    ["mdadm --examine /dev/nbd0p1 --update=name", MDADM_WHY],
    ["mdadm /dev/md0", MDADM_WHY],
    // md started by hand through sysfs (lib/hooks/md-array.sh): only the values that keep md from writing.
    ["echo readonly > /sys/block/md_fl_0badcafe/md/array_state", undefined],
    ['echo clear >"$sys/array_state"', undefined],
    ["echo none > /sys/block/md_x/md/metadata_version", undefined],
    ["printf 'none\\n' > /sys/block/md_x/md/resync_start", undefined],
    ['echo "$slot" > "$sys/dev-$dm/slot"', undefined],
    [
      "echo active > /sys/block/md_x/md/array_state",
      "writes 'active' to md's array_state: only 'readonly' or 'clear' keeps md from writing the members",
    ],
    [
      "echo read-auto >> /sys/block/md_x/md/array_state",
      "writes 'read-auto' to md's array_state: only 'readonly' or 'clear' keeps md from writing the members",
    ],
    [
      'echo "$state" > /sys/block/md_x/md/array_state',
      "writes a value it cannot see to md's array_state: only 'readonly' or 'clear' keeps md from writing the members",
    ],
    [
      "cat saved > /sys/block/md_x/md/array_state",
      "writes a value it cannot see to md's array_state: only 'readonly' or 'clear' keeps md from writing the members",
    ],
    [
      "echo 1.2 > /sys/block/md_x/md/metadata_version",
      "writes '1.2' to md's metadata_version: only 'none' keeps md from writing the members",
    ],
    ["echo 0 > /sys/block/md_x/md/resync_start", "writes '0' to md's resync_start: only 'none' keeps md from writing the members"],
    [
      "echo repair > /sys/block/md_x/md/sync_action",
      "writes 'repair' to md's sync_action: only 'idle' or 'frozen' keeps md from writing the members",
    ],
    ["echo 1 > /sys/module/md_mod/parameters/start_ro", "writes md's start_ro, which starts or steers what md writes to the members"],
    ["umount /mnt/p1", undefined],
  ])("%s", (line, expected) => {
    expect(why(line)).toBe(expected);
  });
});

describe("a write-capable mount cannot hide from the reader", () => {
  // Every way of writing the same `mount /dev/nbd0p1 /mnt/x` that bash would still run as mount.
  const spellings = fc.constantFrom("mount", "'mount'", '"mount"', "m'o'unt", "\\mount", "/usr/bin/mount", '"$TOOL"');
  const prefixes = fc.constantFrom(
    "",
    "sudo ",
    "sudo -u root ",
    "env LC_ALL=C ",
    "timeout 30 ",
    "exec ",
    "command ",
    "LANG=C ",
    "nice -n 5 ",
    "! ",
  );
  const wrappers = fc.constantFrom(
    (c: string) => c,
    (c: string) => `if true; then ${c}; fi`,
    (c: string) => `x=$(${c})`,
    (c: string) => `echo "\`${c}\`"`,
    (c: string) => `for d in a; do ${c} || true; done`,
    (c: string) => `f() { ${c}; }`,
    (c: string) => `cat <(${c})`,
    (c: string) => `bash -c ${shellQuote(c)}`,
    (c: string) => `eval ${shellQuote(c)}`,
    (c: string) => `bash <<'EOF'\n${c}\nEOF`,
    (c: string) => `true && ${c} 2>/dev/null >&2`,
  );

  it("finds it however it is spelled, prefixed and wrapped, inside an in-guest inner hook too", () => {
    fc.assert(
      fc.property(spellings, prefixes, wrappers, fc.boolean(), (spelling, prefix, wrap, inGuest) => {
        const script = wrap(`${prefix}${spelling} /dev/nbd0p1 /mnt/x`);
        const inner = renderHook(scratchHook(script), { TOOL: "mount" });
        const text = inGuest ? renderHook(scratchHook('ssh guest -- "bash -c $(printf %q "$INNER_HOOK")"'), { INNER_HOOK: inner }) : inner;
        const reasons = invocationsIn(text)
          .map(writeCapability)
          .filter((r) => r !== undefined);
        expect(reasons).toContain("has no literal read-only flag (-r, --read-only, -o ro)");
      }),
      { numRuns: 300 },
    );
  });
});
