/**
 * Runs the real program (`index.ts`) for a stack file under the engine-less mocks, with every hook's
 * success output faked (test/support/fake-hooks.ts), and records what it registers.
 */
import { execFileSync } from "child_process";
import * as path from "path";
import { inspectImage } from "../../lib/inspect";
import { evidenceGenerator } from "../../scripts/made-evidence";
import { MockRun, setupMocks, settle } from "../mocks";
import { fakeHookOutputs } from "./fake-hooks";
import { engineConfigFromStackFile } from "./stack-config";

export const REPO = path.resolve(__dirname, "../..");

interface StackImage {
  readonly name: string;
  readonly path: string;
  readonly transfer?: string;
  readonly roots?: string[];
}

export function stackImages(stackFile: string): StackImage[] {
  const { config } = engineConfigFromStackFile(path.resolve(REPO, stackFile));
  return JSON.parse(config["forensic-lab:images"]) as StackImage[];
}

/** Makes each stack's evidence where the stack expects it (what `npm run demo` does too); idempotent. */
export function ensureEvidence(stackFile: string): void {
  const made = new Set<string>();
  for (const image of stackImages(stackFile)) {
    const [script, evidenceDir] = evidenceGenerator(image.path);
    if (made.has(`${script} ${evidenceDir}`)) continue;
    execFileSync("bash", [path.join(REPO, script), evidenceDir], { stdio: "pipe" });
    made.add(`${script} ${evidenceDir}`);
  }
}

export async function runProgram(
  stackFile: string,
  overrides: Record<string, string> = {},
): Promise<{ run: MockRun; outputs: Record<string, unknown> }> {
  const engine = engineConfigFromStackFile(path.resolve(REPO, stackFile));
  const config = { ...engine.config, ...overrides };
  const images = JSON.parse(config["forensic-lab:images"]) as StackImage[];
  const fakes = await Promise.all(
    images.map(async (image) => ({
      name: image.name,
      manifest: await inspectImage(image.path, { roots: image.roots }),
      guestRoot: image.transfer === "scp" ? `/case/images/${image.name}` : `/evidence/${image.name}`,
    })),
  );
  const run = await setupMocks({ ...engine, config, outputsFor: fakeHookOutputs(config["forensic-lab:caseId"], fakes) });
  let program: () => Promise<Record<string, unknown>>;
  jest.isolateModules(() => {
    program = require("../../index");
  });
  const outputs = await program!();
  await settle();
  return { run, outputs };
}
