/**
 * A stand-in guest for host-only tests: a real sshd on 127.0.0.1 with its own host key (pinned in a
 * known_hosts file) and client key, as `lib/hooks/in-guest.test.ts` uses. In-guest hooks then run on
 * this machine as root, so the transfer's whole host side (jail, pipes, resume) runs in seconds. The
 * domain is libvirt's built-in test driver's "test", which is always running: delete hooks really run.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import { freeLoopbackPort, waitForLoopbackPort } from "../../test/support/loopback";
import * as path from "path";
import { GuestConnection } from "../../lib/shell";

export interface LoopbackGuest {
  readonly connection: GuestConnection;
  stop(): void;
}

export async function startLoopbackGuest(dir: string): Promise<LoopbackGuest> {
  fs.mkdirSync(dir, { recursive: true });
  for (const key of ["host_key", "client_key"]) {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, key)]);
  }
  fs.copyFileSync(path.join(dir, "client_key.pub"), path.join(dir, "authorized_keys"));
  const port = await freeLoopbackPort();
  const hostPub = fs.readFileSync(path.join(dir, "host_key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
  fs.writeFileSync(path.join(dir, "known_hosts"), `[127.0.0.1]:${port} ${hostPub}\n`);
  const config = path.join(dir, "sshd_config");
  fs.writeFileSync(
    config,
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey "${path.join(dir, "host_key")}"`,
      `AuthorizedKeysFile "${path.join(dir, "authorized_keys")}"`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      `PidFile "${path.join(dir, "sshd.pid")}"`,
    ].join("\n") + "\n",
  );
  fs.mkdirSync("/run/sshd", { recursive: true });
  const sshd: ChildProcess = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: "ignore" });
  await waitForLoopbackPort(port, "loopback sshd");
  return {
    connection: {
      host: "127.0.0.1",
      port,
      user: "root",
      privateKeyPath: path.join(dir, "client_key"),
      knownHostsPath: path.join(dir, "known_hosts"),
      jumpHost: "",
      domainName: "test",
      libvirtUri: "test:///default",
    },
    stop: () => {
      sshd.kill();
    },
  };
}
