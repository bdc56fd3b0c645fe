/**
 * The e2e engine against a toy program (fixtures/toy.ts) of real `local.Command` resources that
 * write into a temporary folder: every hook really runs, and `events.log` shows what ran and when.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EngineError, EngineRun, EngineState, StepLog, UpOptions, destroy, stateOf, up } from "./engine";

jest.setTimeout(60_000);

const TOY = path.join(__dirname, "fixtures", "toy.ts");
const SECRET = "correct horse battery staple";
const PASSPHRASE = "e2e-test-passphrase";
const COMMANDS = ["a", "b", "c", "pair-first", "pair-second"];

let workDir: string;
beforeEach(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-e2e-"));
});
afterEach(() => fs.rmSync(workDir, { recursive: true, force: true }));

function options(extra: Partial<UpOptions> & { toy?: Record<string, string> } = {}): UpOptions {
  const { toy = {}, ...rest } = extra;
  const config: Record<string, string> = { "toy:workDir": workDir, "toy:secret": SECRET };
  for (const [key, value] of Object.entries(toy)) config[`toy:${key}`] = value;
  return { stack: "toy", project: "toy", config, secretKeys: ["toy:secret"], secretsPassphrase: PASSPHRASE, ...rest };
}

/** The state as it would come back from a checkpoint file. */
function saved(run: EngineRun): EngineState {
  return JSON.parse(JSON.stringify(stateOf(run)));
}

function events(): string[] {
  const file = path.join(workDir, "events.log");
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n") : [];
}

const created = () => events().filter((e) => e.startsWith("create ")).map((e) => e.slice(7));
const deleted = () => events().filter((e) => e.startsWith("delete ")).map((e) => e.slice(7));
const hooksRun = (log: StepLog[]) => log.filter((s) => s.hook !== undefined).map((s) => `${s.hook} ${s.name}`);

async function upFails(opts: UpOptions): Promise<EngineError> {
  try {
    await up(TOY, opts);
  } catch (err) {
    if (err instanceof EngineError) return err;
    throw err;
  }
  throw new Error("up succeeded, expected it to fail");
}

async function destroyFails(state: EngineState): Promise<EngineError> {
  try {
    await destroy(state, { secretsPassphrase: PASSPHRASE });
  } catch (err) {
    if (err instanceof EngineError) return err;
    throw err;
  }
  throw new Error("destroy succeeded, expected it to fail");
}

test("create order respects dependencies and outputs flow into dependents' inputs", async () => {
  // `slow` makes `a` finish last if nothing waited for it.
  const run = await up(TOY, options({ toy: { slow: "a" } }));
  const order = created();
  expect(order.sort()).toEqual([...COMMANDS].sort());
  const at = (name: string) => events().indexOf(`create ${name}`);
  expect(at("a")).toBeLessThan(at("b"));
  expect(at("b")).toBeLessThan(at("pair-first"));
  expect(at("pair-first")).toBeLessThan(at("pair-second"));
  // Provider semantics: exactly one trailing newline trimmed; `b` printed "alpha-beta\n\n".
  expect(run.outputs).toEqual({ aOut: "alpha", bOut: "alpha-beta\n", pairOut: "second", cOut: `c read ${SECRET.length} bytes` });
  // a's stdout reached b's create text (interpolated) and environment, and b's reached pair-first's.
  const b = run.resources.find((r) => r.name === "b")!;
  expect(b.inputs.create).toContain(": alpha");
  expect(b.inputs.environment).toEqual({ FROM_A: "alpha" });
  expect(run.resources.find((r) => r.name === "pair-first")!.outputs.stdout).toBe("first got alpha-beta\n");
  // The component is recorded as the children's parent; children are named `${component}-<step>`.
  const pair = run.resources.find((r) => r.name === "pair")!;
  expect(pair.custom).toBe(false);
  // Its registerOutputs are kept, as the engine keeps a component's outputs in the state.
  expect(pair.outputs).toEqual({ second: "second" });
  expect(run.resources.find((r) => r.name === "pair-second")!.parent).toBe(pair.urn);
  expect(run.log.map((s) => s.op)).toEqual(COMMANDS.map(() => "create"));
});

test("a secret reaches the process on stdin but is sealed in the saved state, and destroy gets it back", async () => {
  const run = await up(TOY, options());
  expect(fs.readFileSync(path.join(workDir, "secret.txt"), "utf8")).toBe(SECRET);
  expect(run.log.find((s) => s.name === "c")!.stdout).toBe("[secret]");

  const text = JSON.stringify(stateOf(run));
  expect(text).not.toContain(SECRET);
  const c = (JSON.parse(text) as EngineState).resources.find((r) => r.name === "c")!;
  // Pulumi's checkpoint shape for a secret: the secret signature plus a ciphertext.
  expect(c.inputs.stdin).toEqual({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: expect.stringMatching(/^v1:/) });
  // Outputs of a command with a secret input are secret too, stack outputs built on them as well.
  expect(JSON.stringify(c.outputs.stdout)).toContain("ciphertext");
  expect(JSON.stringify((JSON.parse(text) as EngineState).outputs.cOut)).toContain("ciphertext");

  await expect(destroy(JSON.parse(text), { secretsPassphrase: "not the passphrase" })).rejects.toThrow(
    "destroy: wrong secrets passphrase for this state",
  );
  expect(deleted()).toEqual([]);
  // c's delete compares its stdin with the file: it exits 9 unless the unsealed secret is identical.
  await destroy(JSON.parse(text), { secretsPassphrase: PASSPHRASE });
  expect(deleted()).toContain("c");
  expect(fs.existsSync(path.join(workDir, "secret.txt"))).toBe(false);
});

test("destroy runs deletes in the exact reverse of the create order, honours deletedWith, and can run twice", async () => {
  const run = await up(TOY, options());
  const createOrder = run.log.map((s) => s.name);
  const state = saved(run);

  const log = await destroy(state, { secretsPassphrase: PASSPHRASE });
  expect(log.map((s) => s.name)).toEqual([...createOrder].reverse());
  // pair-second goes with pair-first (deletedWith): its own delete is skipped.
  expect(log.find((s) => s.name === "pair-second")).toMatchObject({ result: "skipped", detail: expect.stringContaining("deletedWith") });
  expect(deleted()).toEqual([...createOrder].reverse().filter((n) => n !== "pair-second"));

  // Delete hooks tolerate "already gone": a second destroy of the same checkpoint is fine.
  const again = await destroy(state, { secretsPassphrase: PASSPHRASE });
  expect(hooksRun(again)).toEqual(hooksRun(log));
  expect(deleted()).toHaveLength(2 * (COMMANDS.length - 1));
});

test("a failing create fails the run with its stderr; dependents never start; what completed is in the state", async () => {
  const err = await upFails(options({ toy: { failOn: "b" } }));
  expect(err.kind).toBe("failed");
  expect(err.message).toContain("::b: create failed: exit status 3");
  expect(err.message).toContain("boom from b");
  expect(created()).not.toContain("pair-first");
  expect(created()).not.toContain("pair-second");
  const state = stateOf(err.run!);
  const names = state.resources.filter((r) => r.custom).map((r) => r.name);
  expect(names).toContain("a");
  expect(names).not.toContain("b");
  expect(names).not.toContain("pair-first");

  await destroy(state, { secretsPassphrase: PASSPHRASE });
  expect(deleted().sort()).toEqual(names.sort());
});

test("up again with unchanged inputs runs nothing", async () => {
  const first = await up(TOY, options());
  const before = events();
  const second = await up(TOY, options({ previous: saved(first) }));
  expect(hooksRun(second.log)).toEqual([]);
  expect(second.log.map((s) => s.op)).toEqual(COMMANDS.map(() => "same"));
  expect(events()).toEqual(before);
  expect(second.outputs).toEqual(first.outputs);
});

test("forceRerun runs every create hook again", async () => {
  const first = await up(TOY, options());
  const second = await up(TOY, options({ previous: saved(first), forceRerun: true }));
  expect(hooksRun(second.log).sort()).toEqual(COMMANDS.map((n) => `create ${n}`).sort());
  expect(second.log.every((s) => s.op === "rerun")).toBe(true);
  expect(created().sort()).toEqual([...COMMANDS, ...COMMANDS].sort());
  expect(second.outputs).toEqual(first.outputs);
});

test("an interrupted up keeps what completed; up again converges without repeating it", async () => {
  const err = await upFails(options({ interruptAfterHooks: 2, parallel: 1 }));
  expect(err.kind).toBe("interrupted");
  expect(created()).toHaveLength(2);
  const partial = stateOf(err.run!);
  expect(partial.resources.filter((r) => r.custom).map((r) => r.name).sort()).toEqual([...created()].sort());

  const resumed = await up(TOY, options({ previous: JSON.parse(JSON.stringify(partial)) }));
  expect(created().sort()).toEqual([...COMMANDS].sort());
  expect(resumed.log.filter((s) => s.op === "same")).toHaveLength(2);

  const settled = await up(TOY, options({ previous: saved(resumed) }));
  expect(hooksRun(settled.log)).toEqual([]);
});

test("changed inputs update; a removed resource is deleted; changed triggers replace", async () => {
  const first = await up(TOY, options());

  // b's create text changed and it has no `update`: create runs again; nothing else runs.
  const edited = await up(TOY, options({ previous: saved(first), toy: { variant: "edit" } }));
  expect(hooksRun(edited.log)).toEqual(["create b"]);
  expect(edited.log.find((s) => s.name === "b")).toMatchObject({ op: "update", changed: ["create"] });

  // c is gone from the program: its delete runs at the end (b's text is back to the original: update).
  const dropped = await up(TOY, options({ previous: saved(edited), toy: { variant: "drop" } }));
  expect(hooksRun(dropped.log)).toEqual(["create b", "delete c"]);
  expect(dropped.resources.map((r) => r.name)).not.toContain("c");

  // New triggers on a (and c is back): the replacement is created first, the old a deleted at the end.
  // a's stdout is the same, so b does not change.
  const mark = events().length;
  const replaced = await up(TOY, options({ previous: saved(dropped), toy: { variant: "retrigger" } }));
  const tail = events().slice(mark);
  expect(tail.slice(0, 2).sort()).toEqual(["create a", "create c"]);
  expect(tail.slice(2)).toEqual(["delete a"]);
  expect(replaced.log.map((s) => `${s.op} ${s.name}`).sort()).toEqual(
    ["create c", "delete-replaced a", "replace a", "same b", "same pair-first", "same pair-second"],
  );
  expect(replaced.resources.filter((r) => r.name === "a")).toHaveLength(1);
  expect(replaced.resources.find((r) => r.name === "a")!.id).not.toBe(dropped.resources.find((r) => r.name === "a")!.id);
});

test("deleteBeforeReplace deletes the old generation before creating the new one", async () => {
  const first = await up(TOY, options());
  const mark = events().length;
  await up(TOY, options({ previous: saved(first), toy: { variant: "dbr-retrigger" } }));
  expect(events().slice(mark)).toEqual(["delete a", "create a"]);
});

test("a failed delete stops destroy and reports it; destroy of what is left then completes", async () => {
  const run = await up(TOY, options({ parallel: 1 }));
  fs.writeFileSync(path.join(workDir, "fail-delete-b"), "");
  const err = await destroyFails(saved(run));
  expect(err.message).toContain("::b: delete failed: exit status 4");
  expect(err.message).toContain("cannot delete b");
  // Nothing after the failure ran: b and what it depends on are still there.
  const left = err.state!.resources.filter((r) => r.custom).map((r) => r.name);
  expect(left).toContain("b");
  expect(left).toContain("a");
  expect(left).not.toContain("pair-first");
  expect(deleted()).not.toContain("a");

  fs.rmSync(path.join(workDir, "fail-delete-b"));
  await destroy(JSON.parse(JSON.stringify(err.state)), { secretsPassphrase: PASSPHRASE });
  expect(deleted().sort()).toEqual(COMMANDS.filter((n) => n !== "pair-second").sort());
});

test("a program that fails before registering anything fails the run with its message", async () => {
  const opts = options();
  delete opts.config["toy:workDir"];
  const err = await upFails(opts);
  expect(err.message).toMatch(/^program failed: .*toy:workDir/);
  expect(err.run!.resources).toEqual([]);
});

test("a program that dies half way fails the run; what completed is kept and can be destroyed", async () => {
  const err = await upFails(options({ toy: { crashAfterA: "true" } }));
  expect(err.message).toBe("program failed: toy program crashed after a");
  const state = stateOf(err.run!);
  expect(state.resources.map((r) => r.name)).toContain("a");
  await destroy(state, { secretsPassphrase: PASSPHRASE });
  expect(deleted().sort()).toEqual(state.resources.filter((r) => r.custom).map((r) => r.name).sort());
});

test("a program exported as a function: its result is the stack outputs", async () => {
  const run = await up(path.join(__dirname, "fixtures", "function-export.ts"), { stack: "fn", config: {}, secretKeys: [], workDir });
  expect(run.outputs).toEqual({ greeting: "hello" });
});

test("a missing program file is a one-line error", async () => {
  await expect(up(path.join(workDir, "nope.ts"), options())).rejects.toThrow(`${path.join(workDir, "nope.ts")}: no such program file`);
});

test("a state from another stack is refused", async () => {
  const run = await up(TOY, options());
  await expect(up(TOY, options({ previous: saved(run), stack: "other" }))).rejects.toThrow(
    "previous state is for toy/toy, not toy/other",
  );
});
