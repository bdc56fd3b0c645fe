/** Loopback ports for test servers (sshd stand-ins, listeners): the only addresses tests may talk to. */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import type { GuestConnection } from "../../lib/shell";

/**
 * Where test ports come from: below Linux's ephemeral range (32768 and up), so no port the kernel picks
 * for anyone (an outgoing connection's source port, a server listening on port 0 such as the Pulumi
 * engine's gRPC servers) can take one between picking it and using it, which for a guest's forward is
 * seconds later (seen: QEMU's "Could not set up host forwarding rule" with three labs booting at once,
 * on a port listen(0) had handed out). And below the range the lab derives guest ports from
 * (22000..31999, lib/config/parse.ts), so a case on this machine keeps its port.
 */
export const TEST_PORTS = { first: 10000, last: 21999 } as const;

/** Whether 127.0.0.1:`port` can be listened on right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A port nothing listens on right now, on 127.0.0.1, from TEST_PORTS (picked at random: other test processes pick too). */
export async function freeLoopbackPort(): Promise<number> {
  const span = TEST_PORTS.last - TEST_PORTS.first + 1;
  for (let tries = 0; tries < 100; tries++) {
    const port = TEST_PORTS.first + Math.floor(Math.random() * span);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free loopback port in ${TEST_PORTS.first}..${TEST_PORTS.last} after 100 tries`);
}

/** Waits until something accepts connections on 127.0.0.1:`port` (5 s at most). */
export async function waitForLoopbackPort(port: number, what = "server"): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => (socket.end(), resolve(true)));
      socket.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port}`);
}

/**
 * Starts a test sshd on 127.0.0.1:`port` (`/usr/sbin/sshd -D`): public-key logins for root only, with
 * the host key and authorized keys given; `extra` lines go after those (ForceCommand, what a hostile
 * config grants). Its config and pid file go into `dir`. Resolves once it listens.
 */
export async function startLoopbackSshd(opts: {
  dir: string;
  port: number;
  /** @default `<dir>/host_key` (makeLoopbackKeys) */
  hostKey?: string;
  /** @default `<dir>/authorized_keys` (makeLoopbackKeys) */
  authorizedKeys?: string;
  extra?: readonly string[];
  label?: string;
}): Promise<ChildProcess> {
  const config = path.join(opts.dir, "sshd_config");
  fs.writeFileSync(
    config,
    [
      `ListenAddress 127.0.0.1:${opts.port}`,
      `HostKey "${opts.hostKey ?? path.join(opts.dir, "host_key")}"`,
      `AuthorizedKeysFile "${opts.authorizedKeys ?? path.join(opts.dir, "authorized_keys")}"`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      `PidFile "${path.join(opts.dir, "sshd.pid")}"`,
      ...(opts.extra ?? []),
    ].join("\n") + "\n",
  );
  fs.mkdirSync("/run/sshd", { recursive: true });
  const sshd = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: "ignore" });
  await waitForLoopbackPort(opts.port, opts.label ?? "loopback sshd");
  return sshd;
}

/** `<type> <base64>` of a public key file (its comment dropped). */
export function publicKeyOf(file: string): string {
  return fs.readFileSync(file, "utf8").trim().split(" ").slice(0, 2).join(" ");
}

/**
 * Keys for a loopback sshd in `dir`: an ed25519 pair per name (`host_key` and `client_key` always, plus
 * `others`), `authorized_keys` holding the client's public key, and `known_hosts` pinning the host key at
 * 127.0.0.1:`port`. Returns that known_hosts line.
 */
export function makeLoopbackKeys(dir: string, port: number, others: readonly string[] = []): string {
  for (const key of ["host_key", "client_key", ...others]) {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", key, "-f", path.join(dir, key)]);
  }
  fs.copyFileSync(path.join(dir, "client_key.pub"), path.join(dir, "authorized_keys"));
  const known = `[127.0.0.1]:${port} ${publicKeyOf(path.join(dir, "host_key.pub"))}\n`;
  fs.writeFileSync(path.join(dir, "known_hosts"), known);
  return known;
}

/** The GuestConnection of such an sshd; libvirt's built-in test driver's "test" domain stands in. */
export function loopbackConnection(port: number, privateKeyPath: string, knownHostsPath: string): GuestConnection {
  return {
    host: "127.0.0.1",
    port,
    user: "root",
    privateKeyPath,
    knownHostsPath,
    jumpHost: "",
    domainName: "test",
    libvirtUri: "test:///default",
  };
}
