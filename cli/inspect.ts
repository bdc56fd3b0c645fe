/**
 * `forensic-lab inspect <top image> [--json] [--hash] [--format <fmt>]`: what an image consists of,
 * before any of it goes near a guest. Exit 0 with the summary (or the manifest as JSON), 1 with one
 * line naming the file and the problem, 2 for usage errors.
 */
import { IMAGE_FORMATS, InspectError, formatManifest, inspectImage, type ImageFormat } from "../lib/inspect";

const USAGE =
  `usage: forensic-lab inspect <top image> [--json] [--hash] [--format <${IMAGE_FORMATS.join("|")}>] [--root <folder>]...\n` +
  "  Every file of the image must lie under its evidence roots: the folder holding the top file and that folder's\n" +
  "  parent (unless it is / or top-level like /tmp); each --root adds a folder (as images[].roots does).";

interface Args {
  image: string;
  json: boolean;
  hash: boolean;
  format?: ImageFormat;
  roots: string[];
}

function parseArgs(argv: string[]): Args | "help" | string {
  const positional: string[] = [];
  let json = false;
  let hash = false;
  let format: string | undefined;
  const roots: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "--help" || arg === "-h") return "help";
    if (arg === "--json") json = true;
    else if (arg === "--hash") hash = true;
    else if (arg === "--format" || arg === "-f") {
      if (i + 1 >= argv.length) return "--format needs a value";
      format = argv[++i];
    } else if (arg.startsWith("--format=")) format = arg.slice("--format=".length);
    else if (arg === "--root") {
      if (i + 1 >= argv.length) return "--root needs a folder";
      roots.push(argv[++i]);
    } else if (arg.startsWith("--root=")) roots.push(arg.slice("--root=".length));
    else if (arg.startsWith("-") && arg !== "-") return `unknown option ${JSON.stringify(arg)}`;
    else positional.push(arg);
  }
  if (positional.length !== 1) return positional.length === 0 ? "no image given" : "give exactly one image (the top file)";
  if (format !== undefined && !IMAGE_FORMATS.includes(format as ImageFormat)) {
    return `unknown format ${JSON.stringify(format)} (one of ${IMAGE_FORMATS.join(", ")})`;
  }
  return { image: positional[0], json, hash, format: format as ImageFormat | undefined, roots };
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args === "help") {
    console.log(USAGE);
    return 0;
  }
  if (typeof args === "string") {
    console.error(`forensic-lab inspect: ${args}\n${USAGE}`);
    return 2;
  }
  try {
    const manifest = await inspectImage(args.image, { format: args.format, hash: args.hash, roots: args.roots });
    console.log(args.json ? JSON.stringify(manifest, null, 2) : formatManifest(manifest));
    return 0;
  } catch (err) {
    if (err instanceof InspectError) {
      console.error(`forensic-lab inspect: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
