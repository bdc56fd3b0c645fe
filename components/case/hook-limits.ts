/**
 * Every hook reaches the kernel as ONE argument: the command provider runs `/bin/bash -c <text>`, and
 * an in-guest hook travels as `bash -c <printf %q of the inner hook>`, which the guest's sshd hands to
 * root's shell as one argument again. Linux refuses a single argument longer than MAX_ARG_STRLEN
 * (32 pages: 128 KiB with its closing NUL) with E2BIG, and that would fail `pulumi up` half way. So
 * before any resource exists the Case renders each image's transfer and attach hooks with the real
 * renderers and refuses an image whose texts would not fit, naming the limit.
 *
 * What grows with an image (measured, host paths of ~60 bytes; see docs/ARCHITECTURE.md):
 * sshfs create ~11 KiB per folder (a full pipe script per folder), ~0.3 KiB per file;
 * scp create ~0.42 KiB per file; nbd attach ~0.36 KiB per layer; an EWF set's segments count as files
 * (and once more in its acquisition check and attach hooks, ~0.1 KiB each).
 */
import * as pulumi from "@pulumi/pulumi";
import type { CaseConfig, ImageConfig } from "../../lib/config";
import type { ImageManifest } from "../../lib/inspect";
import { parseRenderedHook } from "../../lib/rendered-hook";
import type { GuestConnection } from "../../lib/shell";
import { validateArgs } from "../image-transfer/args";
import { acquisitionHooks, hostHashHooks, transferHooks } from "../image-transfer/plan";
import { planTransfer } from "../image-transfer/plan";
import { attachmentHooks, planAttachment } from "../nbd-attachment/plan";

/** Linux's limit on one argv string, its terminating NUL included (include/uapi/linux/binfmts.h). */
export const MAX_ARG_STRLEN = 32 * 4096;

/**
 * What the Case lets one hook text reach: MAX_ARG_STRLEN less room for what the stand-in guest below
 * cannot know yet (the real host key, which may be an RSA key of ~750 bytes, the ssh port and user).
 */
export const HOOK_TEXT_LIMIT = MAX_ARG_STRLEN - 4096;

/** A guest connection as long as a real one can plausibly be: the host key is not known before `up`. */
function standInGuest(config: CaseConfig): GuestConnection {
  return {
    host: "127.0.0.1",
    port: 65535,
    user: "root",
    privateKeyPath: `${config.stateDir}/guest/id_ed25519`,
    knownHostsPath: `${config.stateDir}/guest/known_hosts`,
    hostKey: `ssh-rsa ${"A".repeat(720)}`,
    jumpHost: config.libvirtHost.kind === "ssh" ? config.libvirtHost.jumpHost : "",
    domainName: `forensic-${config.caseId}`,
    libvirtUri: config.libvirtUri,
  };
}

/** An Output's value (the values here are all known, also at preview). */
function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => (resolve(v), v)));
}

/** Bytes bash's `printf %q` makes of `text` (ANSI-C quoting `$'...'` once it holds a newline). */
export function bashQuotedLength(text: string): number {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length === 0) return 2;
  let plain = true;
  let ansi = 3; // $' ... '
  let escaped = 0;
  for (const b of bytes) {
    if (b >= 0x80) {
      // Not printable to bash in the C locale: written as \ooo, and it forces ANSI-C quoting.
      plain = false;
      ansi += 4;
    } else if (b < 0x20 || b === 0x7f) {
      plain = false;
      ansi += b === 0x0a || b === 0x09 || b === 0x0d || b === 0x0b || b === 0x0c || b === 0x07 || b === 0x08 || b === 0x1b ? 2 : 4;
    } else if (b === 0x27 || b === 0x5c) {
      ansi += 2;
      escaped += 2;
    } else {
      ansi += 1;
      // Outside ANSI-C quoting, %q backslash-escapes shell metacharacters and blanks.
      escaped += ` !"#$&()*,;<=>?[]^\`{|}~`.includes(String.fromCharCode(b)) ? 2 : 1;
    }
  }
  return plain ? escaped : ansi;
}

/** The in-guest wrappers' inner hooks inside a rendered text, nested ones too. */
function innerHooks(text: string): string[] {
  const found: string[] = [];
  for (const [name, value] of parseRenderedHook(text)?.values ?? []) {
    if (typeof value !== "string" || !parseRenderedHook(value)) continue;
    if (name === "INNER_HOOK") found.push(value);
    found.push(...innerHooks(value));
  }
  return found;
}

export interface HookSize {
  /** `transfer create`, `attach create (in the guest)`, ... */
  readonly step: string;
  readonly bytes: number;
}

export interface HookText {
  readonly step: string;
  /** What `/bin/bash -c` receives on the host. */
  readonly text: string;
  /** The in-guest hooks inside it, each sent as `bash -c <%q of it>`. */
  readonly inner: readonly string[];
}

/** Every hook text one image needs, rendered as for `up` with a stand-in guest. */
export async function imageHookTexts(config: CaseConfig, image: ImageConfig, manifest: ImageManifest): Promise<HookText[]> {
  const guest = standInGuest(config);
  const args = validateArgs({
    imageName: image.name,
    manifest,
    mode: image.transfer,
    readOnly: true,
    hashed: true,
    custodyLogPath: `${config.stateDir}/custody.jsonl`,
    examiner: config.examiner,
    stateDir: config.stateDir,
  });
  const plan = planTransfer(args.manifest, args.guestRoot);
  const sha = plan.files.map(() => "0".repeat(64));
  const hash = hostHashHooks(args, plan);
  const transfer = transferHooks(guest, args, plan, sha);
  const attachPlan = planAttachment(manifest.format, plan.guestChain[0].path, plan.guestChain.slice(1), plan.guestChain[0].segments);
  const attach = attachmentHooks(guest, attachPlan, manifest.format, 255);
  const texts: [string, string][] = [
    ["host-hash create", hash.create],
    ["host-hash delete", hash.delete],
    [`${image.transfer} create`, await valueOf(transfer.create)],
    [`${image.transfer} delete`, await valueOf(transfer.delete)],
    ["nbd attach create", await valueOf(attach.create)],
    ["nbd attach delete", await valueOf(attach.delete)],
  ];
  if (manifest.format === "ewf") texts.push(["acquisition check create", await valueOf(acquisitionHooks(guest, args, plan).create)]);
  return texts.map(([step, text]) => ({ step, text, inner: innerHooks(text) }));
}

/** Every hook text one image needs, with its size as the kernel will see it (closing NUL included). */
export async function imageHookSizes(config: CaseConfig, image: ImageConfig, manifest: ImageManifest): Promise<HookSize[]> {
  const sizes: HookSize[] = [];
  for (const { step, text, inner } of await imageHookTexts(config, image, manifest)) {
    sizes.push({ step, bytes: Buffer.byteLength(text, "utf8") + 1 });
    // What the guest's shell receives: `bash -c <%q of the inner hook> forensic-lab-hook`.
    for (const hook of inner) {
      sizes.push({ step: `${step} (in the guest)`, bytes: "bash -c ".length + bashQuotedLength(hook) + " forensic-lab-hook".length + 1 });
    }
  }
  return sizes;
}

/**
 * Why one image's hooks would not fit into one argument, or `undefined`: the largest text, the
 * limit, and what to change. Also refuses what the transfer cannot lay out in the guest.
 */
export async function hookSizeProblem(config: CaseConfig, image: ImageConfig, manifest: ImageManifest): Promise<string | undefined> {
  let sizes: HookSize[];
  try {
    sizes = await imageHookSizes(config, image, manifest);
  } catch (err) {
    return `cannot be laid out in the guest: ${(err as Error).message}`;
  }
  const largest = sizes.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  if (largest.bytes <= HOOK_TEXT_LIMIT) return undefined;
  const folders = new Set(manifest.files.map((f) => f.path.slice(0, f.path.lastIndexOf("/")))).size;
  const advice =
    image.transfer === "sshfs" && largest.step.startsWith("sshfs")
      ? "sshfs needs one pipe per folder (about 11 KiB each): use transfer: scp, or keep the layers in fewer folders"
      : "use an image with fewer layers or extents (qemu-img convert)";
  return (
    `the image (${manifest.chain.length} layers, ${manifest.files.length} files in ${folders} folders) needs a ${largest.step} hook of ${largest.bytes} bytes, ` +
    `over the ${HOOK_TEXT_LIMIT} bytes one command may carry (Linux MAX_ARG_STRLEN is ${MAX_ARG_STRLEN}); ${advice}`
  );
}
