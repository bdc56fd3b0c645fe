/**
 * The zod schema of one case's stack config (keys without the `forensic-lab:` namespace). It checks
 * shape, types, ranges and the rules within one object (lvm needs a volume group, an isolated network
 * needs its name, partition numbers are unique); `parse.ts` resolves defaults that depend on other keys
 * and checks what spans images (mount points, names). Every message is written for the examiner:
 * what is wrong, what was found, how to fix it.
 */
import * as fs from "fs";
import { z } from "zod";
import { absolutePathProblem } from "../absolute-path";
import { parseLibvirtUri } from "../libvirt-uri";
import { isLogicalVolumeName } from "../logical-volume";
import { got } from "../show";
import { mountOptionProblem, splitMountOptions } from "./mount-options";
import { IMAGE_FORMATS } from "./types";

export const DEFAULT_LIBVIRT_URI = "qemu:///system";
export const DEFAULT_STATE_ROOT = "/var/lib/forensic-lab/cases";
export const DEFAULT_GUEST_IMAGE_DIR = "/var/lib/forensic-lab/guest-image/current";
export const DEFAULT_MOUNT_ROOT = "/mnt/forensic";

export const CASE_ID = /^[a-z][a-z0-9-]{2,39}$/;
export const IMAGE_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** The analysis guest attaches each image to an nbd device of its own, and has 64 (guest-image/rootfs/etc/modprobe.d). */
export const MAX_IMAGES = 64;
/** lvm(8) "VALID NAMES": letters, digits, `+ _ . -`, not starting with `-`, not `.` or `..`, at most 127. */
const VOLUME_GROUP = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;
/** libvirt network names: no `/`; kept to a conservative, shell- and XML-safe set. */
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Where custom mount points may live in the guest: never over its own system folders, /case or /evidence. */
const MOUNT_AREAS = ["/mnt", "/media"];

type IssueLike = { readonly input?: unknown; readonly code?: string };

/** A message for "missing" when the key is absent, another for "present but wrong". */
function requiredOr(missing: string, wrong: (input: unknown) => string) {
  return (iss: IssueLike) => (iss.input === undefined ? missing : wrong(iss.input));
}

function oneOf(values: readonly string[]): string {
  const quoted = values.map((v) => `'${v}'`);
  return quoted.length <= 2 ? quoted.join(" or ") : `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

function choice<const T extends readonly [string, ...string[]]>(values: T, hint?: (input: unknown) => string | undefined) {
  return z.enum(values, {
    error: (iss: IssueLike) => {
      const extra = hint?.(iss.input);
      return `must be ${oneOf(values)} ${got(iss.input)}${extra ? `; ${extra}` : ""}`;
    },
  });
}

function wholeNumber(min: number, max: number, unit: string, hint?: string) {
  const message = (iss: IssueLike) => `must be a whole number${unit} from ${min} to ${max} ${got(iss.input)}${hint ? `; ${hint}` : ""}`;
  return z.number({ error: message }).int({ error: message }).min(min, { error: message }).max(max, { error: message });
}

const flag = () => z.boolean({ error: (iss: IssueLike) => `must be true or false ${got(iss.input)}` });

/** Why `p` is not a clean absolute path, or `undefined`. */

function absolutePath(hint: string, opts: { folder?: boolean } = {}) {
  return z
    .string({ error: requiredOr(`is required; ${hint}`, (input) => `must be a path ${got(input)}; ${hint}`) })
    .superRefine((p, ctx) => {
      const problem = absolutePathProblem(p) ?? (opts.folder && p === "/" ? "must not be '/'" : undefined);
      if (problem) ctx.addIssue({ code: "custom", message: `${problem}; ${hint}` });
    });
}

/** Accepts objects as the Pulumi engine hands them to a program: JSON text. An empty YAML value is "not set". */
function decoded<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => {
    if (value === null) return undefined;
    if (typeof value === "string" && /^\s*[[{]/.test(value)) {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return value;
      }
    }
    return value;
  }, schema);
}

const mapping = (what: string) => (iss: IssueLike) =>
  iss.code === "invalid_type" ? `must be a mapping of ${what} ${got(iss.input)}` : undefined;

// ---------------------------------------------------------------------------------------------------

const guestShape = {
  imageDir: absolutePath("give the folder guest-image/build.sh wrote (vmlinuz, initrd.img, rootfs.qcow2)", {
    folder: true,
  }).default(DEFAULT_GUEST_IMAGE_DIR),
  memoryMiB: wholeNumber(512, 65536, " of MiB").default(2048),
  vcpus: wholeNumber(1, 64, "").default(2),
  network: choice(["user-restricted", "libvirt-isolated"] as const).default("user-restricted"),
  isolatedNetwork: z
    .string({ error: (iss: IssueLike) => `must be a libvirt network name ${got(iss.input)}` })
    .regex(NETWORK_NAME, {
      error: (iss: IssueLike) => `must be a libvirt network name (letters, digits, '_', '.', '-') ${got(iss.input)}`,
    })
    .optional(),
  accelerator: choice(["auto", "kvm", "tcg"] as const).default("auto"),
  sshPort: wholeNumber(1024, 65535, "", "leave it out to derive a port from caseId").optional(),
  examinerUid: wholeNumber(1000, 60000, "", "the mounts belong to this unprivileged examiner account").default(1000),
};

const guestSchema = z.strictObject(guestShape, { error: mapping("guest settings") }).superRefine((g, ctx) => {
  if (g.network === "libvirt-isolated" && g.isolatedNetwork === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["isolatedNetwork"],
      message: "is required with network: libvirt-isolated; name a libvirt network that has no <forward>",
    });
  }
  if (g.network === "user-restricted" && g.isolatedNetwork !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["isolatedNetwork"],
      message: "only applies to network: libvirt-isolated; remove it or set network: libvirt-isolated",
    });
  }
  if (g.isolatedNetwork === "default") {
    ctx.addIssue({
      code: "custom",
      path: ["isolatedNetwork"],
      message:
        "names libvirt's 'default' network, which forwards to the outside (NAT); define an isolated network (no <forward>) and name it here",
    });
  }
});

const evidenceVolumeShape = {
  backend: choice(["file", "lvm"] as const).default("file"),
  path: absolutePath("give the full path of the LUKS container file").optional(),
  volumeGroup: z
    .string({ error: (iss: IssueLike) => `must be an LVM volume group name ${got(iss.input)}` })
    .superRefine((vg, ctx) => {
      if (!VOLUME_GROUP.test(vg) || vg === "." || vg === "..") {
        ctx.addIssue({
          code: "custom",
          message: `is not a valid LVM volume group name ${got(vg)}; use letters, digits and '+_.-', not starting with '-'`,
        });
      }
    })
    .optional(),
  sizeGiB: (() => {
    // The volume is made in whole MiB (truncate / lvcreate), and LUKS2 alone takes 16 MiB of it.
    const message = (iss: IssueLike) => `must be a number of GiB from 0.0625 (64 MiB) to 16384 ${got(iss.input)}`;
    const wholeMiB = (iss: IssueLike) => `must be a whole number of MiB (a multiple of 1/1024 GiB) ${got(iss.input)}`;
    return z
      .number({ error: message })
      .gte(0.0625, { error: message })
      .max(16384, { error: message })
      .refine((gib) => Number.isInteger(gib * 1024), { error: wholeMiB });
  })().default(20),
  retain: flag().default(false),
  fastKdfForTestsOnly: flag().default(false),
};

const evidenceVolumeSchema = z.strictObject(evidenceVolumeShape, { error: mapping("evidence volume settings") }).superRefine((v, ctx) => {
  if (v.backend === "lvm" && v.volumeGroup === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["volumeGroup"],
      message: "is required with backend: lvm; name the LVM volume group on the libvirt host",
    });
  }
  if (v.backend === "lvm" && v.path !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["path"],
      message: "only applies to backend: file; an lvm volume is a logical volume in volumeGroup, remove path",
    });
  }
  if (v.backend === "file" && v.volumeGroup !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["volumeGroup"],
      message: "only applies to backend: lvm; remove it or set backend: lvm",
    });
  }
});

const mountOptions = z.unknown().transform((value, ctx) => {
  const split = splitMountOptions(value);
  if ("problem" in split) {
    ctx.addIssue({ code: "custom", message: `${split.problem} ${got(value)}` });
    return z.NEVER;
  }
  for (const option of split.options) {
    const problem = mountOptionProblem(option);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }
  return split.options;
});

const mountPoint = absolutePath("give an absolute folder in the guest under /mnt or /media").superRefine((p, ctx) => {
  if (absolutePathProblem(p) === undefined && !MOUNT_AREAS.some((area) => p.startsWith(`${area}/`))) {
    ctx.addIssue({
      code: "custom",
      message: `must lie under /mnt or /media ${got(p)}; evidence must not cover the guest's own folders`,
    });
  }
});

const partitionNumber = wholeNumber(
  0,
  128,
  "",
  "partitions are numbered from 1 as in the partition table; 0 is the whole disk, for a filesystem without a partition table",
);

/** `vg/lv`: an LVM logical volume inside the image, by its volume group's name and its own. */
const logicalVolume = z
  .string({ error: (iss: IssueLike) => `must be a logical volume vg/lv ${got(iss.input)}` })
  .refine((s) => isLogicalVolumeName(s), {
    error: (iss: IssueLike) =>
      `must be vg/lv: a volume group and a logical volume name (letters, digits, '+', '_', '.', '-') ${got(iss.input)}`,
  });

const partitionShape = {
  number: partitionNumber.optional(),
  logicalVolume: logicalVolume.optional(),
  mountPoint: mountPoint.optional(),
  options: mountOptions.optional(),
};

const PARTITION_ENTRY = "a partition number, a logical volume vg/lv, or a mapping {number or logicalVolume, mountPoint, options}";

// No z.union here: when every option of a union fails, zod reports one vague "invalid input" and drops
// the precise nested issues (a forbidden mount option). The shapes are normalised instead: a bare
// number is the mapping {number}, a bare 'vg/lv' the mapping {logicalVolume}, and 'all' is the same as
// leaving partitions out.
const partitionEntry = z.preprocess(
  (value) =>
    typeof value === "number" ? { number: value } : typeof value === "string" && value.includes("/") ? { logicalVolume: value } : value,
  z
    .strictObject(partitionShape, {
      error: (iss: IssueLike) => (iss.code === "invalid_type" ? `must be ${PARTITION_ENTRY} ${got(iss.input)}` : undefined),
    })
    .superRefine((entry, ctx) => {
      if ((entry.number === undefined) === (entry.logicalVolume === undefined)) {
        ctx.addIssue({ code: "custom", message: `must name one partition number or one logicalVolume; it is ${PARTITION_ENTRY}` });
      }
    }),
);

const partitionsMessage = (iss: IssueLike) => `must be 'all' or a list, each ${PARTITION_ENTRY} ${got(iss.input)}`;

/** A config key name, as `pulumi config set --secret <name>` takes it (without the namespace). */
const CONFIG_KEY_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/**
 * Which secret opens which encrypted volume in the image: location -> the name of a secret config key
 * holding its passphrase. The passphrases never appear in the mapping. `luksKeys`: a partition number or
 * vg/lv; `bitlockerKeys`: a partition number (the BitLocker user passphrase or its recovery password);
 * `bitlockerStartupKeys`: a partition number (the startup key file, .BEK, base64-encoded).
 */
const volumeKeys = z
  .record(
    z.string(),
    z
      .string({
        error: (iss: IssueLike) => `must name a secret config key (set it with pulumi config set --secret <name>) ${got(iss.input)}`,
      })
      .regex(CONFIG_KEY_NAME, {
        error: (iss: IssueLike) => `must be a config key name such as 'laptop-p2-key' (letters, digits, '_', '.', '-') ${got(iss.input)}`,
      }),
    {
      error: (iss: IssueLike) =>
        iss.code === "invalid_type" ? `must be a mapping {partition number or vg/lv: secret config key name} ${got(iss.input)}` : undefined,
    },
  )
  .optional();

/** A partition number 0..255 (the whole disk: 0), as a mapping key. */
const isPartitionNumber = (at: string) => /^(0|[1-9][0-9]{0,2})$/.test(at) && Number(at) <= 255;
/** A luksKeys location: a partition number or vg/lv. */
const isLuksLocation = (at: string) => isPartitionNumber(at) || isLogicalVolumeName(at);
/** `undefined` means all partitions. */
const partitions = z.preprocess(
  (value) => (value === "all" ? undefined : value),
  z.array(partitionEntry, { error: partitionsMessage }).min(1, { error: partitionsMessage }).optional(),
);

export interface SchemaOptions {
  /** Check that image files exist and are regular files. */
  readonly checkFiles: boolean;
}

/** The name of an image or an md array: IMAGE_NAME's shape, unique within the case (checked by the list). */
function shortName(what: string, example: string) {
  return z
    .string({
      error: requiredOr(`is required; give ${what} a short name such as '${example}'`, (input) => `must be text ${got(input)}`),
    })
    .regex(IMAGE_NAME, {
      error: (iss: IssueLike) =>
        `must be 1-32 characters: a lowercase letter or digit, then lowercase letters, digits or '-' ${got(iss.input)}`,
    });
}

/**
 * What the lab opens and mounts inside a device (an image, or an md array over several): which
 * partitions and logical volumes, and the keys of its encrypted volumes.
 */
const contentsShape = {
  partitions,
  luksKeys: volumeKeys,
  bitlockerKeys: volumeKeys,
  bitlockerStartupKeys: volumeKeys,
};

/** An image's or array's contents as the schema passes them on. */
export type RawContents = z.output<z.ZodObject<typeof contentsShape>>;

/** The checks of a device's contents: each partition listed once, each key at a place that can hold it. */
function checkContents(entry: RawContents, ctx: z.RefinementCtx): void {
  if (entry.partitions !== undefined) {
    const seen = new Map<string, number>();
    entry.partitions.forEach(({ number: n, logicalVolume: lv }, index) => {
      const what = lv === undefined ? `partition ${n}` : `logical volume ${lv}`;
      const first = seen.get(what);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["partitions", index],
          message: `${what} is listed twice (also partitions[${first}]); list each ${lv === undefined ? "partition" : "logical volume"} once`,
        });
      } else {
        seen.set(what, index);
      }
    });
  }
  for (const at of Object.keys(entry.luksKeys ?? {})) {
    if (!isLuksLocation(at)) {
      ctx.addIssue({
        code: "custom",
        path: ["luksKeys", at],
        message: `each key must be a partition number or a logical volume vg/lv that holds LUKS ${got(at)}`,
      });
    }
  }
  for (const at of Object.keys(entry.bitlockerKeys ?? {})) {
    if (!isPartitionNumber(at)) {
      ctx.addIssue({
        code: "custom",
        path: ["bitlockerKeys", at],
        message: `each key must be the number of a partition (0: the whole disk) that holds BitLocker ${got(at)}`,
      });
    } else if (entry.luksKeys?.[at] !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["bitlockerKeys", at],
        message: `partition ${at} has a key in luksKeys too; a volume is LUKS or BitLocker, give one key`,
      });
    }
  }
  for (const at of Object.keys(entry.bitlockerStartupKeys ?? {})) {
    if (!isPartitionNumber(at)) {
      ctx.addIssue({
        code: "custom",
        path: ["bitlockerStartupKeys", at],
        message: `each key must be the number of a partition (0: the whole disk) that holds BitLocker ${got(at)}`,
      });
    } else if (entry.luksKeys?.[at] !== undefined || entry.bitlockerKeys?.[at] !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["bitlockerStartupKeys", at],
        message: `partition ${at} has a key in ${entry.luksKeys?.[at] !== undefined ? "luksKeys" : "bitlockerKeys"} too; one key opens a volume, give one`,
      });
    }
  }
}

function imageShape() {
  return {
    name: shortName("the image", "win7"),
    path: absolutePath("give the full path of the top image file"),
    format: choice(IMAGE_FORMATS, (input) =>
      input === "vhd"
        ? "qemu calls VHD 'vpc'"
        : typeof input === "string" && /^(e01|encase|expert ?witness)$/i.test(input)
          ? "an E01 segment set is 'ewf' (name its first segment, <name>.E01, as path)"
          : "leave it out to detect the format from the file's magic",
    ).optional(),
    transfer: choice(["sshfs", "scp"] as const).default("sshfs"),
    ...contentsShape,
    roots: z
      .array(absolutePath("give the absolute folder that holds some of this image's files", { folder: true }), {
        error: (iss: IssueLike) => `must be a list of absolute folders ${got(iss.input)}`,
      })
      .optional(),
  };
}

function imageSchema(options: SchemaOptions) {
  return z.strictObject(imageShape(), { error: mapping("image settings") }).superRefine((image, ctx) => {
    checkContents(image, ctx);
    if (options.checkFiles) {
      const problem = imageFileProblem(image.path);
      if (problem) ctx.addIssue({ code: "custom", path: ["path"], message: problem });
    }
  });
}

/** Why the top image file cannot be used, or `undefined`. Reads metadata only, never the contents. */
export function imageFileProblem(file: string): string | undefined {
  const hint = "give the full path of the top image file";
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return `no such file '${file}'; ${hint}`;
    if (code === "EACCES") return `cannot be read ('${file}': permission denied)`;
    return `cannot be examined ('${file}': ${code ?? String(err)})`;
  }
  if (stat.isDirectory()) {
    return `is a directory ('${file}'), not an image file; ${hint} (for VMware: the newest snapshot's .vmdk)`;
  }
  if (!stat.isFile()) return `is not a regular file ('${file}'); ${hint}`;
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    return `cannot be read ('${file}': permission denied)`;
  }
  return undefined;
}

/** `image:partition`: a member of an md array, by its image's name and partition number (0: the whole disk). */
const ARRAY_MEMBER = new RegExp(`^(${IMAGE_NAME.source.slice(1, -1)}):(0|[1-9][0-9]{0,2})$`);

const raidArrayShape = {
  name: shortName("the array", "nas").refine((n) => !/-r[0-9]+$/.test(n), {
    error: (iss: IssueLike) => `must not end in -r<digits> (the members' mappings are named so) ${got(iss.input)}`,
  }),
  members: z
    .array(
      z
        .string({ error: (iss: IssueLike) => `must be image:partition, e.g. 'disk1:2' (0: the whole disk) ${got(iss.input)}` })
        .regex(ARRAY_MEMBER, {
          error: (iss: IssueLike) => `must be image:partition, e.g. 'disk1:2' (0: the whole disk) ${got(iss.input)}`,
        })
        .refine((m) => Number(m.split(":")[1]) <= 255, {
          error: (iss: IssueLike) => `must name a partition from 0 to 255 ${got(iss.input)}`,
        }),
      {
        error: requiredOr(
          "is required; list the members there are as image:partition, e.g. ['disk1:2', 'disk2:2']",
          (input) => `must be a list of image:partition ${got(input)}`,
        ),
      },
    )
    .min(1, { error: "must list at least one member as image:partition" }),
  ...contentsShape,
};

/** An array's contents are partition 0: md arrays are not partitioned here (a table inside one is not read). */
const ARRAY_PARTITION = "must be 0 (the array's contents) or a logical volume vg/lv: a partition table inside an md array is not read";

const raidArraysSchema = z
  .array(
    z
      .strictObject(raidArrayShape, { error: mapping("md array settings (name, members, partitions?, luksKeys?, ...)") })
      .superRefine((array, ctx) => {
        checkContents(array, ctx);
        array.partitions?.forEach((p, index) => {
          if (p.number !== undefined && p.number !== 0)
            ctx.addIssue({ code: "custom", path: ["partitions", index], message: `${ARRAY_PARTITION} ${got(p.number)}` });
        });
        for (const list of ["luksKeys", "bitlockerKeys", "bitlockerStartupKeys"] as const) {
          for (const at of Object.keys(array[list] ?? {})) {
            if (isPartitionNumber(at) && at !== "0")
              ctx.addIssue({ code: "custom", path: [list, at], message: `${ARRAY_PARTITION} ${got(at)}` });
          }
        }
      }),
    {
      error: (iss: IssueLike) => `must be a list of md arrays {name, members} ${got(iss.input)}`,
    },
  )
  .superRefine((arrays, ctx) => {
    const names = new Map<string, number>();
    const members = new Map<string, string>();
    arrays.forEach((array, index) => {
      const first = names.get(array.name);
      if (first !== undefined)
        ctx.addIssue({
          code: "custom",
          path: [index, "name"],
          message: `'${array.name}' is already the name of raidArrays[${first}]; array names must be unique`,
        });
      else names.set(array.name, index);
      array.members.forEach((member, j) => {
        const earlier = members.get(member);
        if (earlier !== undefined)
          ctx.addIssue({
            code: "custom",
            path: [index, "members", j],
            message: `'${member}' is already a member in ${earlier}; list each member once`,
          });
        else members.set(member, `raidArrays[${index}].members[${j}]`);
      });
    });
  });

/** Keys of each object in the config, for "did you mean" (top level includes the passphrase). */
export const KNOWN_KEYS = {
  top: ["caseId", "examiner", "libvirtUri", "stateDir", "guest", "evidenceVolume", "evidenceVolumePassphrase", "images", "raidArrays"],
  guest: Object.keys(guestShape),
  evidenceVolume: Object.keys(evidenceVolumeShape),
  image: Object.keys(imageShape()),
  partition: Object.keys(partitionShape),
  raidArray: Object.keys(raidArrayShape),
} as const;

/** The whole schema (without the passphrase, which never goes through zod so it is never echoed). */
export function caseConfigSchema(options: SchemaOptions) {
  return z.strictObject({
    caseId: z
      .string({
        error: requiredOr(
          "is required; name the case, e.g. 'case-42' (it names the libvirt domain and the case's files)",
          (input) => `must be text ${got(input)}`,
        ),
      })
      .regex(CASE_ID, {
        error: (iss: IssueLike) => `must be 3-40 characters: a lowercase letter, then lowercase letters, digits or '-' ${got(iss.input)}`,
      }),
    examiner: z
      .string({
        error: requiredOr("is required; the examiner's name goes into the custody log", (input) => `must be text ${got(input)}`),
      })
      .superRefine((name, ctx) => {
        if (name.trim() === "")
          ctx.addIssue({ code: "custom", message: "must not be empty; the examiner's name goes into the custody log" });
        else if (/[\u0000-\u001f\u007f]/.test(name))
          ctx.addIssue({ code: "custom", message: "must be one line of text without control characters" });
        else if (name.length > 200) ctx.addIssue({ code: "custom", message: `must be at most 200 characters (got ${name.length})` });
      }),
    libvirtUri: z
      .string({ error: (iss: IssueLike) => `must be a libvirt URI ${got(iss.input)}` })
      .superRefine((uri, ctx) => {
        const parsed = parseLibvirtUri(uri);
        if ("problem" in parsed) ctx.addIssue({ code: "custom", message: parsed.problem });
      })
      .default(DEFAULT_LIBVIRT_URI),
    stateDir: absolutePath("give an absolute folder for the case's state (keys, overlay, logs)", { folder: true }).optional(),
    guest: decoded(guestSchema.prefault({})),
    evidenceVolume: decoded(evidenceVolumeSchema.prefault({})),
    images: decoded(
      z
        .array(imageSchema(options), {
          error: requiredOr(
            "is required; list at least one image (name, path of the top image file)",
            (input) => `must be a list of images ${got(input)}`,
          ),
        })
        .min(1, { error: "must list at least one image (name, path of the top image file)" })
        .max(MAX_IMAGES, {
          error: `must list at most ${MAX_IMAGES} images: the analysis guest attaches each to an nbd device of its own and has ${MAX_IMAGES}; split the case`,
        })
        .superRefine((images, ctx) => {
          const seen = new Map<string, number>();
          images.forEach((image, index) => {
            const first = seen.get(image.name);
            if (first !== undefined) {
              ctx.addIssue({
                code: "custom",
                path: [index, "name"],
                message: `'${image.name}' is already the name of images[${first}]; image names must be unique`,
              });
            } else {
              seen.set(image.name, index);
            }
          });
        }),
    ),
    raidArrays: decoded(raidArraysSchema.optional()),
  });
}

export type RawCaseConfig = z.output<ReturnType<typeof caseConfigSchema>>;
