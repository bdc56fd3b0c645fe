/**
 * Extra mount options may add to the lab's read-only mount, never take anything away. Each hook writes
 * `mount -o "ro,<journal-safe options>,<extra>"`, and for most options the last one wins, so an extra
 * `rw`, `exec` or `norecovery=0` would silently undo a safety flag. This module decides which extra
 * options are acceptable and explains every refusal.
 */

/** Options whose meaning is "undo a safety flag" or "write to the evidence", with the reason. */
const FORBIDDEN: Readonly<Record<string, string>> = {
  rw: "would mount the evidence writable; evidence is always mounted read-only",
  defaults: "means rw,suid,dev,exec,auto; it would undo the read-only and no-exec flags",
  remount: "changes an existing mount instead of adding an option",
  bind: "makes a bind mount instead of mounting the partition",
  rbind: "makes a bind mount instead of mounting the partition",
  move: "moves an existing mount instead of mounting the partition",
  suid: "would undo nosuid; evidence must not run set-uid programs",
  dev: "would undo nodev; evidence must not provide device files",
  exec: "would undo noexec; nothing on the evidence may run",
  user: "is for /etc/fstab and lets users unmount; the lab manages its mounts",
  users: "is for /etc/fstab and lets users unmount; the lab manages its mounts",
  owner: "is for /etc/fstab; the lab manages its mounts",
  group: "is for /etc/fstab; the lab manages its mounts",
  load: "replays the ext3/ext4 journal, which writes to the evidence; the lab mounts with noload",
  recovery: "replays the journal, which writes to the evidence; the lab mounts with norecovery",
  recover: "lets ntfs-3g repair an unclean NTFS volume, which writes to the evidence",
  force: "forces a mount of an unclean or hibernated volume (ntfs-3g) and invites repairs",
  remove_hiberfile: "deletes hiberfil.sys (ntfs-3g), destroying evidence",
  discard: "sends discard/TRIM requests to the device",
  clear_cache: "rebuilds the btrfs free-space cache, which writes to the evidence",
  loop: "sets up a loop device; the partition device is given by the lab",
  offset: "sets up a loop device; the partition device is given by the lab",
  sizelimit: "sets up a loop device; the partition device is given by the lab",
  uid: "is set by the lab (the examiner account, guest.examinerUid); change guest.examinerUid instead",
  gid: "is set by the lab (the examiner account, guest.examinerUid); change guest.examinerUid instead",
  umask: "is set by the lab (read-only for the examiner: 0277); it cannot be loosened",
  fmask: "is set by the lab (read-only for the examiner: 0277); it cannot be loosened",
  dmask: "is set by the lab (read-only for the examiner: 0277); it cannot be loosened",
};

/** Safety flags the lab sets; `flag=0`-style values would switch them off. */
const SAFETY_FLAGS = new Set(["ro", "nosuid", "nodev", "noexec", "noload", "norecovery", "nologreplay", "noatime"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off", "n"]);

/** One option: a name of letters, digits, `_ . -`; an optional value without commas, spaces or quotes. */
const OPTION = /^([A-Za-z0-9_.-]+)(?:=([A-Za-z0-9_.:/@+=-]*))?$/;

/**
 * Splits the configured options (a list, or one comma-separated string) into single options.
 * Returns the options, or the reason the value is not a list of options.
 */
export function splitMountOptions(value: unknown): { options: string[] } | { problem: string } {
  const entries = typeof value === "string" ? [value] : Array.isArray(value) ? value : undefined;
  if (entries === undefined) {
    return { problem: "must be a list of mount options (or one comma-separated string)" };
  }
  const options: string[] = [];
  for (const entry of entries) {
    if (typeof entry !== "string") return { problem: "must list mount options as text" };
    options.push(...entry.split(",").map((o) => o.trim()));
  }
  return { options };
}

/** Why an extra mount option is refused, or `undefined` if it only adds. */
export function mountOptionProblem(option: string): string | undefined {
  if (option === "") return "is empty; remove the stray comma";
  const match = OPTION.exec(option);
  if (!match) {
    return `'${option}' is not a plain mount option; use name or name=value without spaces, quotes or shell characters`;
  }
  const name = match[1].toLowerCase();
  const value = match[2];
  const reason = FORBIDDEN[name];
  if (reason !== undefined) return `'${option}' is not allowed: it ${reason}`;
  if (value !== undefined && FALSE_WORDS.has(value.toLowerCase()) && (name.startsWith("no") || SAFETY_FLAGS.has(name))) {
    return `'${option}' is not allowed: it switches off '${name}'; extra options may add, never remove`;
  }
  if (name.startsWith("no") && SAFETY_FLAGS.has(name.slice(2))) {
    return `'${option}' is not allowed: it switches off '${name.slice(2)}'; extra options may add, never remove`;
  }
  return undefined;
}
