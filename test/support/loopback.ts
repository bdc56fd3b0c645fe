/** Loopback ports for test servers (sshd stand-ins, listeners): the only addresses tests may talk to. */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import type { GuestConnection } from "../../lib/shell";

/** A port nothing listens on right now, on 127.0.0.1. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
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
