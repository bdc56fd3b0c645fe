/**
 * The whole-lab scenario `npm run e2e` runs on the real Pulumi engine (pulumi.ts): preview the stack
 * with the policy pack, build the lab with `pulumi up`, check it from the outside (in the guest, over the
 * same pinned ssh the hooks use, and the evidence on the host), prove the hooks converge and are
 * idempotent, destroy it and check nothing is left. Each check is one named step (steps.ts); new checks
 * slot into `labSteps`.
 */
import * as fs from "fs";
import * as path from "path";
import type { PolicyEvent, Stack } from "@pulumi/pulumi/automation";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { NAMESPACE } from "../../lib/config/parse";
import { REPO_ROOT, RESULT_MARKER, shellQuote as shq } from "../../lib/shell";
import { LOCAL_COMMAND, TYPE } from "../../lib/tokens";
import { policies } from "../../policy/policies";
import { build, unsafeLab } from "../../policy/tests/fixtures";
import { runPolicies, withEngineUrns } from "../support/policy-harness";
import { faultSteps } from "./faults";
import { openStack } from "./pulumi";
import { Step } from "./steps";
import { Lab, PASSPHRASE_CONFIG, POLICY_PACK, runRecorded } from "./lab";
import { evidenceGenerator, readMadeNas } from "../../scripts/made-evidence";
import {
  bash,
  compareEvidence,
  CUSTODY_LOG,
  evidenceFacts,
  evidenceManifest,
  FileFacts,
  inGuest,
  leftovers,
  mountPointOf,
  mustInGuest,
  volumeManifest,
} from "./outside";

/** A program registering the policy tests' unsafe lab, for a preview that must fail. */
const UNSAFE_LAB = path.join(REPO_ROOT, "test/e2e/unsafe-lab");

export const UP = "up: the lab is built, with the policy pack";
const PREVIEW = "preview with the policy pack: no mandatory violation";
const DESTROY = "destroy: everything is undone";
/** A run stopped part-way must not fail the next one: what it left is undone first. */
const EARLIER_RUN = "engine: what an earlier run stopped part-way left is undone";
export const RESUMED = "fault: up interrupted by SIGINT, then up again, converges";

export const LIBVIRT_ANSWERS = "host: libvirt answers";

/** Checks that the lab's libvirt answers; a local one is started when it does not (no init system here). */
export async function startLibvirt(lab: Lab): Promise<string> {
  const uri = lab.caseConfig.libvirtUri;
  if ((await bash(`virsh -c ${shq(uri)} version`)).code === 0) return uri;
  if (lab.caseConfig.libvirtHost.kind !== "local") throw new Error(`virsh -c ${uri} fails; start libvirtd on that host`);
  // No init system here (containers, CI): start the daemons by hand, as scripts/demo.sh does.
  await bash("pgrep -x virtlogd >/dev/null || virtlogd -d; pgrep -x libvirtd >/dev/null || libvirtd -d");
  for (let i = 0; i < 50; i++) {
    if ((await bash(`virsh -c ${shq(uri)} version`)).code === 0) return `${uri} (started libvirtd)`;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`virsh -c ${uri} still fails after starting virtlogd and libvirtd`);
}

/** The steps for one stack, in order. */
export function labSteps(lab: Lab): Step<Lab>[] {
  const images = lab.caseConfig.images;
  const steps: Step<Lab>[] = [];
  let evidenceBefore: Map<string, FileFacts> | undefined;

  steps.push({ name: LIBVIRT_ANSWERS, run: () => startLibvirt(lab) });

  for (const image of images) {
    steps.push({
      name: `evidence: ${image.name} is there`,
      async run() {
        if (!fs.existsSync(image.path)) {
          throw new Error(`${image.path}: no such file; make the test evidence with: ${evidenceGenerator(image.path).join(" ")}`);
        }
        evidenceBefore = evidenceFacts(images);
        return `${image.path} (${evidenceBefore.size} evidence files noted: sha256, size, mode, mtime)`;
      },
    });
  }
  const evidenceReady = images.map((i) => `evidence: ${i.name} is there`);

  steps.push({
    name: EARLIER_RUN,
    needs: [LIBVIRT_ANSWERS],
    run: () => lab.clearEarlierRun(),
  });

  steps.push({
    name: "engine: the stack is created, the passphrase set as a secret",
    needs: [EARLIER_RUN, ...evidenceReady],
    async run() {
      await lab.stack();
      if (lab.built) throw new Error(`stack ${lab.stackName} holds a lab from an earlier run`);
      const text = fs.readFileSync(lab.stackConfigFile, "utf8");
      if (text.includes(lab.opts.volumePassphrase)) throw new Error(`${lab.stackConfigFile} holds the passphrase in plain text`);
      if (!/evidenceVolumePassphrase:\s*\n\s*secure: /.test(text)) throw new Error(`${lab.stackConfigFile} has no secure passphrase`);
      return `stack ${lab.stackName}, passphrase stored as 'secure:' in ${path.relative(REPO_ROOT, lab.stackConfigFile)}`;
    },
  });

  steps.push({
    name: PREVIEW,
    needs: [LIBVIRT_ANSWERS, "engine: the stack is created, the passphrase set as a secret"],
    async run() {
      const stack = await lab.stack();
      const policyEvents: string[] = [];
      const preview = await stack.preview({
        policyPacks: [POLICY_PACK],
        color: "never",
        onEvent: (e) => e.policyEvent && policyEvents.push(`${e.policyEvent.enforcementLevel} ${e.policyEvent.policyName}`),
      });
      const mandatory = policyEvents.filter((e) => e.startsWith("mandatory"));
      if (mandatory.length > 0) throw new Error(`mandatory violations: ${mandatory.join(", ")}`);
      const plan = Object.entries(preview.changeSummary)
        .map(([op, n]) => `${n} ${op}`)
        .join(", ");
      return `${plan}; ${policyEvents.length} advisory notes`;
    },
  });

  steps.push({
    name: "preview of an unsafe lab: the policy pack stops it, naming each violation",
    needs: ["engine: the stack is created, the passphrase set as a secret"],
    async run() {
      // A stack file left by a crashed run would hold another run's encryption salt.
      fs.rmSync(path.join(UNSAFE_LAB, "Pulumi.unsafe.yaml"), { force: true });
      const stack = await openStack("unsafe", lab.opts.engine, UNSAFE_LAB);
      try {
        // Every violation but the plain passphrase, whose remediation stops a deployment where it stands.
        const expected = await runPolicies(withEngineUrns(build(await unsafeLab({ plainPassphrase: false }))));
        await stack.setConfig("plainPassphrase", { value: "false" });
        const first = await previewFailure(stack);
        const missing = expected.filter(
          (v) =>
            !first.events.some(
              (e) =>
                e.policyName === v.policy &&
                e.enforcementLevel === v.enforcementLevel &&
                sourceBlind(e.message).includes(sourceBlind(v.message)),
            ),
        );
        if (missing.length > 0)
          throw new Error(`the engine did not report: ${missing.map((v) => `${v.policy}: ${v.message}`).join(" | ")}`);
        // Then the plain passphrase alone: the remediation refuses it, naming the volume.
        await stack.setConfig("plainPassphrase", { value: "true" });
        const second = await previewFailure(stack);
        const refusal = "EvidenceVolume 'case-42-volume': passphrase is not a Pulumi secret";
        if (!second.message.includes(refusal))
          throw new Error(`the plain passphrase was not refused: ${second.message.split("\n").slice(-5).join(" | ")}`);
        const named = new Set([
          ...first.events.filter((e) => e.enforcementLevel === "mandatory").map((e) => e.policyName),
          "passphrase-is-secret",
        ]);
        const unnamed = policies.filter((p) => p.enforcementLevel === "mandatory" && !named.has(p.name)).map((p) => p.name);
        if (unnamed.length > 0) throw new Error(`mandatory policies the unsafe lab did not trip: ${unnamed.join(", ")}`);
        return `both previews failed: ${first.events.length} violations named as the policy tests expect, then the plain passphrase refused; all ${named.size} mandatory policies`;
      } finally {
        await stack.workspace.removeStack("unsafe");
      }
    },
  });

  steps.push({
    name: "the CLI accepts Pulumi.yaml's config block and itself refuses a stack without a required key",
    needs: [PREVIEW],
    async run() {
      // The block was read by every command so far; now the CLI's own check of a declared key.
      const name = "e2e-config-check";
      const file = path.join(REPO_ROOT, "stacks", `Pulumi.${name}.yaml`);
      const doc = parseYaml(fs.readFileSync(lab.opts.stackFile, "utf8")) as { config: Record<string, unknown> };
      delete doc.config[`${NAMESPACE}:examiner`];
      fs.writeFileSync(file, stringifyYaml(doc));
      const stack = await openStack(name, lab.opts.engine);
      let failure = "";
      try {
        await stack.setConfig(PASSPHRASE_CONFIG, { value: lab.opts.volumePassphrase, secret: true });
        await stack.preview({ color: "never" });
      } catch (err) {
        failure = (err as Error).message;
      } finally {
        await stack.workspace.removeStack(name);
        fs.rmSync(file, { force: true });
      }
      if (!failure) throw new Error("the preview of a stack without forensic-lab:examiner passed");
      const line = failure.split("\n").find((l) => /missing configuration value/i.test(l) && l.includes("examiner"));
      if (!line) throw new Error(`the CLI did not name the missing key: ${failure.split("\n").slice(-6).join(" | ")}`);
      return line.trim();
    },
  });

  steps.push({
    name: UP,
    needs: [PREVIEW],
    async run() {
      const run = await lab.up();
      return `${run.log.filter((s) => s.hook).length} hooks; ${describeChanges(run.changes)}`;
    },
  });

  steps.push({
    name: "up again: the engine finds nothing to change",
    needs: [UP],
    async run() {
      const run = await lab.up();
      const changed = Object.entries(run.changes).filter(([op, n]) => op !== "same" && n > 0);
      if (changed.length > 0 || run.log.some((s) => s.hook))
        throw new Error(`changes on an unchanged stack: ${describeChanges(run.changes)}`);
      return describeChanges(run.changes);
    },
  });

  steps.push({
    name: "every create hook run again by hand: hooks are idempotent",
    needs: [UP],
    async run() {
      // The engine never re-runs an unchanged command, so the test does, from the state: each create
      // script with its stdin, in the engine's order. Each must succeed and print what it printed first.
      const commands = lab.commands();
      const redone: string[] = [];
      for (const command of commands) {
        const r = await runRecorded(command, "create");
        const name = command.urn.split("::").pop();
        if (r.code !== 0) throw new Error(`${name}: exit ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
        const work = workDone(hookResult(r.stdout));
        if (work.length > 0) redone.push(`${name}: ${work.join(", ")}`);
      }
      if (redone.length > 0) throw new Error(`hooks did their work again instead of finding it done:\n${redone.join("\n")}`);
      return `${commands.length} create hooks re-run, each found its work done`;
    },
  });

  steps.push({
    name: "state: no passphrase, LUKS key or private key in plain text",
    needs: [UP],
    async run() {
      const luksKeys = images.flatMap((image) => Object.values(volumeManifest(image)?.keys ?? {}));
      const secrets = [lab.opts.volumePassphrase, "PRIVATE KEY", privateKeyBody(lab.guest().privateKeyPath), ...luksKeys];
      const files = [...backendFilesOf(lab), lab.stackConfigFile];
      for (const file of files) {
        const text = fs.readFileSync(file, "utf8");
        const found = secrets.find((s) => s && text.includes(s));
        if (found)
          throw new Error(
            `${file} holds ${found === lab.opts.volumePassphrase ? "the passphrase" : luksKeys.includes(found) ? "a LUKS key" : "a private key"} in plain text`,
          );
      }
      const ciphertexts = files.reduce((n, f) => n + (fs.readFileSync(f, "utf8").match(/"ciphertext"|secure:/g)?.length ?? 0), 0);
      return `${files.length} files scanned; ${ciphertexts} encrypted values`;
    },
  });

  steps.push({
    name: "guest: running, reached over ssh with its pinned host key",
    needs: [UP],
    async run() {
      const guest = lab.guest();
      const state = await bash(`virsh -c ${shq(guest.libvirtUri)} domstate ${shq(guest.domainName)}`);
      if (state.stdout.trim() !== "running") throw new Error(`domain ${guest.domainName}: ${state.stdout.trim() || state.stderr.trim()}`);
      return `${guest.domainName}: ${(await mustInGuest(guest, "uname -r")).trim()}`;
    },
  });

  steps.push({
    name: "guest: case storage mounted at /case",
    needs: [UP],
    async run() {
      return (await mustInGuest(lab.guest(), "findmnt -n -o SOURCE,FSTYPE /case")).trim();
    },
  });

  // Images whose partitions are md array members: they hold no filesystem of their own.
  const arrayMembers = new Set(lab.caseConfig.raidArrays.flatMap((a) => a.members.map((m) => m.image)));
  for (const image of images) {
    const manifest = evidenceManifest(image);
    if (arrayMembers.has(image.name)) {
      steps.push({
        name: `${image.name}: its md member reported as such, not opened alone, nothing mounted`,
        needs: [UP],
        async run() {
          const outputs = lab.run!.outputs.images as Record<
            string,
            { volumesLeftClosed?: { layer: string; reason: string }[]; mounts?: unknown[] }
          >;
          const closed = outputs[image.name]?.volumesLeftClosed ?? [];
          if (!closed.some((v) => v.layer === "md" && /needs its other members/.test(v.reason)))
            throw new Error(`volumesLeftClosed: ${JSON.stringify(closed)}, expected its md member (a RAID5's: needs its other members)`);
          if ((outputs[image.name]?.mounts ?? []).length > 0) throw new Error(`mounts: ${JSON.stringify(outputs[image.name]?.mounts)}`);
          return closed.map((v) => v.reason).join("; ");
        },
      });
      continue;
    }
    const mounts = `${image.name}: every evidence mount is read-only`;
    steps.push({
      name: mounts,
      needs: [UP],
      async run() {
        // Each mount below the image's mount root, and each sshfs mount of the image.
        const out = await mustInGuest(
          lab.guest(),
          'findmnt -rn -o TARGET,OPTIONS | while read -r target options; do case "$target" in "$MOUNT_ROOT"/*|"$SSHFS_ROOT"|"$SSHFS_ROOT"/*) echo "$target $options";; esac; done',
          { MOUNT_ROOT: image.mountRoot, SSHFS_ROOT: `/evidence/${image.name}` },
        );
        const lines = out.trim().split("\n").filter(Boolean);
        if (lines.length === 0) throw new Error(`no mounts under ${image.mountRoot}`);
        const writable = lines.filter((l) => !l.split(" ")[1].split(",").includes("ro"));
        if (writable.length > 0) throw new Error(`not read-only: ${writable.join("; ")}`);
        return `${lines.length} mounts`;
      },
    });
    const volumes = volumeManifest(image);
    if (!manifest && volumes) {
      steps.push({
        name: `${image.name}: LUKS and LVM opened read-only, each known file read as made by the examiner, writes refused`,
        needs: [UP],
        async run() {
          type Where = { partition?: number; logicalVolume?: string };
          const outputs = lab.run!.outputs.images as Record<
            string,
            { volumes?: (Where & { layer: string; device: string })[]; mounts?: (Where & { mountPoint: string })[] }
          >;
          const at = (v: Where) => v.logicalVolume ?? `p${v.partition}`;
          const opened = (outputs[image.name]?.volumes ?? []).map((v) => `${at(v)} ${v.layer}`);
          const expected = ["p2 luks", "evidencevg/home lvm", "evidencevg/root lvm", "evidencevg/home luks"];
          if (JSON.stringify(opened) !== JSON.stringify(expected))
            throw new Error(`volumes output: ${JSON.stringify(opened)}, expected ${JSON.stringify(expected)}`);
          const mounts = new Map((outputs[image.name]?.mounts ?? []).map((m) => [at(m), m.mountPoint]));
          for (const f of volumes.files) {
            const mountPoint = mounts.get(f.at);
            if (mountPoint === undefined) throw new Error(`${f.at} is not mounted: ${JSON.stringify([...mounts])}`);
            const got = await mustInGuest(lab.guest(), 'runuser -u examiner -- cat -- "$FILE"', { FILE: `${mountPoint}/${f.path}` });
            if (got !== f.text) throw new Error(`${mountPoint}/${f.path}: ${JSON.stringify(got)}, expected ${JSON.stringify(f.text)}`);
            const probe = await inGuest(lab.guest(), 'touch -- "$MOUNT_POINT/forensic-lab-write-probe"', { MOUNT_POINT: mountPoint });
            if (probe.code === 0 || !/Read-only file system/.test(probe.stderr))
              throw new Error(`${mountPoint}: a write was not refused as read-only`);
          }
          return `${opened.length} layers opened; ${volumes.files.length} files read back from ${[...mounts.values()].join(", ")}`;
        },
      });
      continue;
    }
    if (!manifest) {
      steps.push({
        name: `${image.name}: known files read back`,
        needs: [UP],
        async run() {
          throw new Error(`no evidence.json near ${image.path}: cannot tell what the image should hold`);
        },
      });
      continue;
    }
    for (const partition of manifest.partitions) {
      const mountPoint = mountPointOf(image, partition.number);
      if (mountPoint === undefined) continue;
      steps.push({
        name: `${image.name}: p${partition.number} (${partition.filesystem}) reads as made, as the examiner`,
        needs: [UP],
        async run() {
          const files = Object.keys(partition.files);
          for (const file of files) {
            const got = await mustInGuest(lab.guest(), 'runuser -u examiner -- cat -- "$FILE"', { FILE: `${mountPoint}/${file}` });
            if (got !== partition.files[file])
              throw new Error(`${mountPoint}/${file}: ${JSON.stringify(got)}, expected ${JSON.stringify(partition.files[file])}`);
          }
          return `${files.length} files under ${mountPoint}`;
        },
      });
      steps.push({
        name: `${image.name}: p${partition.number} refuses writes`,
        needs: [UP],
        async run() {
          const r = await inGuest(lab.guest(), 'touch -- "$MOUNT_POINT/forensic-lab-write-probe"', { MOUNT_POINT: mountPoint });
          if (r.code === 0) throw new Error(`root could create a file in ${mountPoint}`);
          if (!/Read-only file system/.test(r.stderr)) throw new Error(`write failed, but not as read-only: ${r.stderr.trim()}`);
        },
      });
    }
  }

  for (const array of lab.caseConfig.raidArrays) {
    steps.push({
      name: `array ${array.name}: md RAID over ${array.members.map((m) => m.image).join(", ")}, the LVM inside opened read-only, each known file read as made by the examiner, writes refused`,
      needs: [UP],
      async run() {
        const member = images.find((i) => i.name === array.members[0].image);
        const made = member && readMadeNas(path.dirname(member.path));
        if (!made) throw new Error(`no nas.json beside ${member?.path}: cannot tell what the array should hold`);
        type Where = { partition?: number; logicalVolume?: string };
        const outputs = (
          lab.run!.outputs.raidArrays as Record<
            string,
            {
              array: { level: number; state: string; uuid: string; members: unknown[] };
              volumes: (Where & { layer: string; device: string })[];
              mounts: (Where & { mountPoint: string; options: string[] })[];
            }
          >
        )[array.name];
        if (outputs?.array.level !== made.array.level || outputs.array.state !== "complete" || outputs.array.uuid !== made.array.uuid)
          throw new Error(
            `array output: ${JSON.stringify(outputs?.array)}, expected level ${made.array.level}, complete, ${made.array.uuid}`,
          );
        const opened = outputs.volumes.map((v) => `${v.logicalVolume ?? `p${v.partition}`} ${v.layer} ${v.device}`);
        if (JSON.stringify(opened) !== JSON.stringify([`vg1000/lv lvm /dev/mapper/fl-array_${array.name}_lvm-vg1000-lv`]))
          throw new Error(`volumes output: ${JSON.stringify(opened)}`);
        const mounts = new Map(outputs.mounts.map((m) => [m.logicalVolume ?? `p${m.partition}`, m.mountPoint]));
        for (const f of made.files) {
          const mountPoint = mounts.get(f.at);
          if (mountPoint === undefined) throw new Error(`${f.at} is not mounted: ${JSON.stringify([...mounts])}`);
          const file = `${mountPoint}/${f.path}`;
          if (f.text !== undefined) {
            const got = await mustInGuest(lab.guest(), 'runuser -u examiner -- cat -- "$FILE"', { FILE: file });
            if (got !== f.text) throw new Error(`${file}: ${JSON.stringify(got)}, expected ${JSON.stringify(f.text)}`);
          } else {
            const got = await mustInGuest(lab.guest(), 'runuser -u examiner -- sha256sum < "$FILE"', { FILE: file });
            if (got.slice(0, 64) !== f.sha256) throw new Error(`${file}: sha256 ${got.slice(0, 64)}, expected ${f.sha256}`);
          }
          const probe = await inGuest(lab.guest(), 'touch -- "$MOUNT_POINT/forensic-lab-write-probe"', { MOUNT_POINT: mountPoint });
          if (probe.code === 0 || !/Read-only file system/.test(probe.stderr))
            throw new Error(`${mountPoint}: a write was not refused as read-only`);
        }
        return `RAID${outputs.array.level} ${outputs.array.uuid}: ${opened.join(", ")}; ${made.files.length} files read back from ${[...mounts.values()].join(", ")}`;
      },
    });
  }

  steps.push({
    name: "custody log and outputs: every transferred file hashed on both sides, as the host hashes it",
    needs: [UP],
    async run() {
      const log = path.join(lab.caseConfig.stateDir, CUSTODY_LOG);
      const records = fs
        .readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, string>);
      const recorded = (image: string, file: string, sha256: string, side: string) =>
        records.some((r) => r.image === image && r.file === file && r.sha256 === sha256 && r.side === side);
      const outputs = lab.run!.outputs.images as Record<string, { hashes?: { path: string; hostSha256: string; guestSha256: string }[] }>;
      let files = 0;
      for (const image of images) {
        const hashes = outputs[image.name]?.hashes ?? [];
        if (hashes.length === 0) throw new Error(`no hashes in the stack outputs for ${image.name}`);
        for (const h of hashes) {
          const onHost = evidenceBefore?.get(h.path)?.sha256;
          if (h.hostSha256 !== onHost || h.guestSha256 !== onHost)
            throw new Error(`${image.name}: ${h.path}: host ${h.hostSha256}, guest ${h.guestSha256}, the file hashes ${onHost}`);
          for (const side of ["host", "guest"]) {
            if (!recorded(image.name, h.path, onHost, side))
              throw new Error(`${log} has no ${side}-side record of ${image.name}: ${h.path} with its sha256`);
          }
          files++;
        }
      }
      return `${files} files: the host's sha256 = the guest's = the file's, each recorded on both sides in ${log}`;
    },
  });

  for (const image of images.filter((i) => /\.E01$/i.test(i.path))) {
    steps.push({
      name: `${image.name}: the E01 set's stored hashes checked in the guest, in the outputs and the custody log`,
      needs: [UP],
      async run() {
        const made = evidenceManifest(image)?.ewf;
        if (!made) throw new Error(`no evidence.json with an ewf set near ${image.path}`);
        const outputs = lab.run!.outputs as {
          evidence: {
            name: string;
            format: string;
            files: { path: string }[];
            acquisition: { segments: number; md5: string; sha1: string } | null;
          }[];
          images: Record<string, { acquisitionCheck?: Record<string, unknown> | null }>;
        };
        const summary = outputs.evidence.find((e) => e.name === image.name);
        if (
          summary?.format !== "ewf" ||
          summary.acquisition?.segments !== made.segments.length ||
          summary.files.length !== made.segments.length
        )
          throw new Error(`evidence output of ${image.name}: ${JSON.stringify(summary)}`);
        if (summary.acquisition.md5 !== made.md5 || summary.acquisition.sha1 !== made.sha1)
          throw new Error(
            `${image.name}: inspect read md5 ${summary.acquisition.md5}, sha1 ${summary.acquisition.sha1}; the set stores ${made.md5}, ${made.sha1}`,
          );
        const check = outputs.images[image.name]?.acquisitionCheck;
        const expected = { status: "verified", storedMd5: made.md5, computedMd5: made.md5, storedSha1: made.sha1, computedSha1: made.sha1 };
        // Compared key by key: the engine hands outputs back with their keys sorted.
        const differs = Object.entries(expected).filter(([key, value]) => check?.[key] !== value);
        if (!check || differs.length > 0 || Object.keys(check).length !== Object.keys(expected).length)
          throw new Error(`acquisitionCheck of ${image.name}: ${JSON.stringify(check)}, expected ${JSON.stringify(expected)}`);
        const log = path.join(lab.caseConfig.stateDir, CUSTODY_LOG);
        const verified = fs
          .readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .filter((r) => r.image === image.name && r.action === "acquisition-verified" && r.reportedBy === "guest");
        if (verified.length === 0) throw new Error(`${log}: no acquisition-verified line for ${image.name}`);
        return `${made.segments.length} segments; md5 ${made.md5} and sha1 ${made.sha1} hold; recorded in the custody log`;
      },
    });
  }

  steps.push({
    name: "up with one image removed and one added: only their resources change",
    needs: [UP],
    async run() {
      // As an examiner edits the stack file: drop the last image that no md array needs, add the first
      // again under a new name.
      const removed = [...images].reverse().find((i) => !arrayMembers.has(i.name))!.name;
      const added = "added";
      const original = lab.editImages((list) => [...list.filter((i) => i.name !== removed), { ...list[0], name: added, partitions: [2] }]);
      let changed: Awaited<ReturnType<typeof lab.up>>;
      try {
        changed = await lab.up();
      } finally {
        // Whatever happened, the steps after this one start from the stack as it was.
        lab.editImages(() => original);
      }
      const foreign = changed.log.filter(
        (s) => s.op !== "same" && s.type === LOCAL_COMMAND && !s.name.includes(`-${removed}-`) && !s.name.includes(`-${added}-`),
      );
      if (foreign.length > 0) throw new Error(`hooks of other images ran: ${foreign.map((s) => `${s.op} ${s.name}`).join(", ")}`);
      const ran = changed.log.filter((s) => s.hook);
      const created = ran.filter((s) => s.op === "create" && s.name.includes(`-${added}-`)).length;
      const deleted = ran.filter((s) => s.op === "delete" && s.name.includes(`-${removed}-`)).length;
      if (created === 0 || deleted === 0)
        throw new Error(`expected creates for '${added}' and deletes for '${removed}': ${ran.map((s) => `${s.op} ${s.name}`).join(", ")}`);
      const expected = evidenceManifest(images[0])?.partitions.find((p) => p.number === 2)?.files ?? {};
      const mounts = lab.resources
        .filter((r) => r.type === TYPE.PartitionMount && r.urn.includes(`-${added}-`))
        .flatMap((r) => (r.outputs.mounts ?? []) as { partition: number; mountPoint: string }[]);
      if (mounts.length !== 1) throw new Error(`'${added}' has ${mounts.length} mounts, expected partition 2 alone`);
      for (const [file, content] of Object.entries(expected)) {
        const got = await mustInGuest(lab.guest(), 'runuser -u examiner -- cat -- "$FILE"', { FILE: `${mounts[0].mountPoint}/${file}` });
        if (got !== content) throw new Error(`${mounts[0].mountPoint}/${file} reads ${JSON.stringify(got)}`);
      }
      // And back: the original images, again touching only those two.
      const back = await lab.up();
      const foreignBack = back.log.filter((s) => s.hook && !s.name.includes(`-${removed}-`) && !s.name.includes(`-${added}-`));
      if (foreignBack.length > 0) throw new Error(`restoring the images ran other hooks: ${foreignBack.map((s) => s.name).join(", ")}`);
      return `${created} creates for '${added}' (its files read), ${deleted} deletes for '${removed}', ${changed.log.filter((s) => s.op === "same").length} resources the same; restored with ${back.log.filter((s) => s.hook).length} hooks`;
    },
  });

  steps.push({
    name: "up with a changed guest setting: the guest is replaced, old one first, and every in-guest resource follows",
    needs: [UP],
    async run() {
      const before = lab.guest();
      const uri = before.libvirtUri;
      const memory = (await bash(`virsh -c ${shq(uri)} dominfo ${shq(before.domainName)}`)).stdout.match(/Max memory:\s+(\d+)/)?.[1];
      lab.editGuest((guest) => ({ ...guest, memoryMiB: 1536 }));
      const run = await lab.up();
      const replaced = run.log.filter((s) => s.hook && (s.op === "delete-replaced" || s.op === "create-replacement" || s.op === "replace"));
      const guestDomain = replaced.filter((s) => s.name.endsWith("-guest-domain"));
      if (guestDomain.length === 0)
        throw new Error(
          `the guest was not replaced: ${run.log
            .filter((s) => s.hook)
            .map((s) => `${s.op} ${s.name}`)
            .join(", ")}`,
        );
      const after = lab.guest();
      if (after.hostKey === before.hostKey) throw new Error("the new guest has the old guest's host key");
      const now = (await bash(`virsh -c ${shq(uri)} dominfo ${shq(after.domainName)}`)).stdout.match(/Max memory:\s+(\d+)/)?.[1];
      if (now !== String(1536 * 1024)) throw new Error(`the domain has ${now} KiB, expected ${1536 * 1024}`);
      let reads = 0;
      for (const image of images) {
        for (const partition of evidenceManifest(image)?.partitions ?? []) {
          const mountPoint = mountPointOf(image, partition.number);
          for (const [file, content] of Object.entries(partition.files)) {
            if ((await mustInGuest(after, 'runuser -u examiner -- cat -- "$FILE"', { FILE: `${mountPoint}/${file}` })) !== content)
              throw new Error(`${mountPoint}/${file} reads differently in the new guest`);
            reads++;
          }
        }
      }
      return `guest replaced (${memory} -> ${now} KiB, new host key), ${replaced.length} replace steps ran hooks; ${reads} files read in the new guest`;
    },
  });

  steps.push({
    name: DESTROY,
    always: true,
    async run() {
      if (!lab.built) return "nothing to destroy";
      const guest = safe(() => lab.guest());
      const log = await lab.destroy();
      if (guest) {
        const r = await bash(`virsh -c ${shq(guest.libvirtUri)} dominfo ${shq(guest.domainName)}`);
        if (r.code === 0) throw new Error(`domain ${guest.domainName} is still defined`);
      }
      // The custody log is the case's record and stays; anything else in the case folder is a leftover.
      const left = leftovers(lab.caseConfig.stateDir, [CUSTODY_LOG]);
      if (left.length > 0) throw new Error(`left behind in ${lab.caseConfig.stateDir}: ${left.join(", ")}`);
      return `${log.filter((s) => s.hook).length} delete hooks`;
    },
  });

  steps.push({
    name: 'destroy again: nothing to do, and every delete hook run again by hand tolerates "already gone"',
    // Not on DESTROY passing: a leftover file fails that step, but every delete hook ran.
    needs: [UP],
    async run() {
      const destroyed = lab.destroyed;
      if (!destroyed) throw new Error("the lab was never destroyed, so there is nothing to destroy again");
      const log = await lab.destroy();
      if (log.some((s) => s.hook)) throw new Error(`destroy of an empty stack ran ${log.filter((s) => s.hook).length} hooks`);
      const deletes = destroyed.filter((r) => r.type === LOCAL_COMMAND).reverse();
      for (const command of deletes) {
        const r = await runRecorded(command, "delete");
        if (r.code !== 0)
          throw new Error(
            `${command.urn.split("::").pop()}: delete again: exit ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`,
          );
      }
      return `engine: ${log.length} steps; ${deletes.length} delete hooks ran again`;
    },
  });

  steps.push({
    name: "evidence on the host: sha256, size, mode and mtime as before up",
    needs: evidenceReady,
    always: false,
    async run() {
      if (!evidenceBefore) throw new Error("no evidence facts noted before up");
      return compareEvidence(evidenceBefore, evidenceFacts(images));
    },
  });

  steps.push({
    name: RESUMED,
    // Not on DESTROY: a leftover file fails that step, but the lab is gone and this one can run.
    needs: [UP],
    async run() {
      if (lab.built) throw new Error("the first lab is still there (its destroy failed); an interrupted up needs none");
      const hooks = lab.destroyed!.filter((r) => r.type === LOCAL_COMMAND).length;
      const stopAfter = Math.max(1, Math.floor(hooks / 2));
      const abort = new AbortController();
      let created = 0;
      let failure = "";
      try {
        await lab.up({ signal: abort.signal, onStep: (s) => s.hook && s.result === "done" && ++created === stopAfter && abort.abort() });
      } catch (err) {
        failure = (err as Error).message;
      }
      if (!failure) throw new Error(`up was not stopped by SIGINT after ${stopAfter} hooks`);
      const kept = lab.commands().length;
      // What a user does next: `pulumi up` again. A graceful cancel leaves no pending operation.
      const resumed = await lab.up();
      const rerun = resumed.log.filter((s) => s.hook && s.op === "create").length;
      if (rerun + kept !== hooks) throw new Error(`resumed up created ${rerun} after ${kept} were kept, expected ${hooks} in all`);
      return `SIGINT after ${created} of ${hooks} hooks; ${kept} in the state; up again created ${rerun}`;
    },
  });

  // Faults on the resumed lab, then on one more; they end with a destroy that leaves nothing.
  steps.push(...faultSteps(lab));

  steps.push({
    name: "stack rm: the run's stack and its stack file are gone",
    always: true,
    async run() {
      if (lab.built) throw new Error(`stack ${lab.stackName} still holds ${lab.resources.length} resources; npm run e2e -- --destroy`);
      await lab.removeStack();
      if (fs.existsSync(lab.stackConfigFile)) throw new Error(`${lab.stackConfigFile} is still there`);
      return lab.stackName;
    },
  });

  return steps;
}

/**
 * A policy message with the place a secret was found in left out. Stack policies get each resource's
 * outputs from the real engine (AnalyzeStack), its inputs from the test harness: a component's secret
 * input (the volume's passphrase) is visible only to the harness, so the engine names the same secret
 * by the hook that carries it on stdin. Which secret leaked where is still compared; only its label is not.
 */
function sourceBlind(message: string): string {
  return message.replace(/contains the (?:passphrase|stdin|secret \S+) of '[^']+'/, "contains a secret");
}

/** A preview that must fail: its error and the policy events it reported. */
async function previewFailure(stack: Stack): Promise<{ message: string; events: PolicyEvent[] }> {
  const events: PolicyEvent[] = [];
  try {
    await stack.preview({ policyPacks: [POLICY_PACK], color: "never", onEvent: (e) => e.policyEvent && events.push(e.policyEvent) });
  } catch (err) {
    return { message: (err as Error).message, events };
  }
  throw new Error(`the preview of ${stack.name} passed the policy pack`);
}

function describeChanges(changes: Record<string, number>): string {
  return (
    Object.entries(changes)
      .map(([op, n]) => `${n} ${op}`)
      .join(", ") || "no resources"
  );
}

/** What a hook reports: its FORENSIC_LAB_RESULT line, parsed (undefined when it prints none). */
function hookResult(stdout: string): unknown {
  const line = stdout
    .split("\n")
    .reverse()
    .find((l) => l.startsWith(RESULT_MARKER));
  return line === undefined ? undefined : JSON.parse(line.slice(RESULT_MARKER.length));
}

/** Flags with which hooks report work they did in this run (`"created": true`, `"outcome": "created"`). */
const WORK_FLAGS = ["created", "formatted", "opened", "mounted", "copied", "attached", "started", "connected"];

/** The work a hook result says this run did, as `key` paths; empty for a run that found everything done. */
function workDone(result: unknown, at = ""): string[] {
  if (Array.isArray(result)) return result.flatMap((v, i) => workDone(v, `${at}[${i}]`));
  if (!result || typeof result !== "object") return [];
  return Object.entries(result).flatMap(([key, value]) => {
    const where = at ? `${at}.${key}` : key;
    if (WORK_FLAGS.includes(key) && value === true) return [where];
    if (key === "outcome" && value === "created") return [`${where}=created`];
    return workDone(value, where);
  });
}

/** The base64 body of an OpenSSH private key (its longest line), to look for in the state. */
function privateKeyBody(file: string): string {
  if (!fs.existsSync(file)) return "";
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => !l.startsWith("-----"))
    .reduce((a, b) => (b.length > a.length ? b : a), "");
}

function backendFilesOf(lab: Lab): string[] {
  const root = path.join(lab.opts.engine.backendDir, ".pulumi");
  if (!fs.existsSync(root)) return [];
  return (fs.readdirSync(root, { recursive: true }) as string[]).map((f) => path.join(root, f)).filter((f) => fs.statSync(f).isFile());
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
