/**
 * lib/hooks/json.sh: hooks quote their results with bash alone where a value is plain, and through jq
 * otherwise. Each value must come back exactly (JSON.parse) whatever a hostile image or its kernel
 * messages put in it, and a plain value must not need jq at all (that is the point: a jq start costs
 * about 0.4 s under emulation), which is shown by running those with no jq on PATH.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderHook } from "../shell";

const library = renderHook("lib/hooks/json.sh", {});
const noJq = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-json-"));
afterAll(() => fs.rmSync(noJq, { recursive: true, force: true }));

/**
 * Runs `call` (json_string or json_strings) on the values, which reach bash as raw bytes (NUL-separated
 * on stdin), as a hostile label's would; prints REPLY. `withJq: false` leaves jq off PATH.
 */
function quote(call: "json_string" | "json_strings", values: (string | Buffer)[], opts: { withJq?: boolean; locale?: string } = {}) {
  const text = `${library}\nset -euo pipefail\nmapfile -d '' -t values\n${call} "\${values[@]}"\nprintf '%s' "$REPLY"\n`;
  // SHLVL: with stdin on a socket (Node's pipes) and no SHLVL, bash takes itself for an rshd session and reads ~/.bashrc.
  const env = { PATH: opts.withJq === false ? noJq : (process.env.PATH ?? ""), LC_ALL: opts.locale ?? "C.UTF-8", SHLVL: "1" };
  const input = Buffer.concat(values.map((v) => Buffer.concat([Buffer.from(v), Buffer.from([0])])));
  return spawnSync("/bin/bash", ["-c", text, "json-test"], { env, input, encoding: "utf8" });
}

const plain = [
  "",
  "/dev/nbd0p1",
  "/mnt/forensic/win 7/p2",
  "ro",
  'a "quoted" word',
  "back\\slash",
  "$(id) `id` ${x}",
  "~!@#%^&*()[]{}|;:',.<>?",
];
const odd = ["tab\there", "line\nbreak", "carriage\rreturn", "\u0001\u001f\u007f", "Ümlaut é", "emoji 🔥", '\\"\n"\\'];

test.each(plain)("a plain value comes back exactly, with no jq on PATH: %j", (value) => {
  const r = quote("json_string", [value], { withJq: false });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toBe(value);
});

test.each(odd)("any other value goes through jq and comes back exactly: %j", (value) => {
  const r = quote("json_string", [value]);
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toBe(value);
  // Without jq it fails loudly rather than writing something that is not JSON.
  expect(quote("json_string", [value], { withJq: false }).status).not.toBe(0);
});

test("bytes that are not UTF-8 become U+FFFD, and the line stays JSON", () => {
  const r = quote("json_string", [Buffer.from([0x61, 0xff, 0xfe, 0x62])]);
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toBe("a\ufffd\ufffdb");
});

test.each(["C", "C.UTF-8", "POSIX"])("the plain range is bytes 0x20-0x7e in locale %s: é is never taken for plain", (locale) => {
  expect(JSON.parse(quote("json_string", ["é"], { locale }).stdout)).toBe("é");
  expect(quote("json_string", ["é"], { locale, withJq: false }).status).not.toBe(0);
});

test("json_strings: an array of the values, in order; none is []", () => {
  const values = ["ro", "nosuid", 'a"b', "x\ny"];
  const r = quote("json_strings", values);
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual(values);
  expect(quote("json_strings", [], { withJq: false }).stdout).toBe("[]");
});
