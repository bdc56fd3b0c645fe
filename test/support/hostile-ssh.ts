/**
 * A hostile ~/.ssh/config and a loaded ssh-agent, for tests that the lab's ssh obeys only its own options.
 *
 * OpenSSH reads ~/.ssh/config from the passwd home (/root), not $HOME, so commands run in a private mount
 * namespace with a scratch folder bind-mounted over /root: the real /root/.ssh is never read or touched.
 * The config turns on everything that would hurt with a hostile guest (agent forwarding, a forced tty, a
 * control master, a local command, local and remote forwards, SendEnv, no host key checking), some of it
 * through an Include. The stand-in "guest" is an sshd on 127.0.0.1 that allows all of it, and whose
 * ForceCommand records, for every session, what the far side saw (agent socket, tty, the sent variable,
 * whether the two forward ports answer) before running the command.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { GuestConnection } from "../../lib/shell";
import { run, ExecResult } from "../guest/harness";
import { freeLoopbackPort, loopbackConnection, makeLoopbackKeys, publicKeyOf, startLoopbackSshd } from "./loopback";

/** What the far side of one ssh session saw. */
export interface SessionProbe {
  authSock: string;
  /** An agent answered at SSH_AUTH_SOCK (a forwarded agent). */
  agentKeys: boolean;
  tty: boolean;
  /** FORENSIC_SENT_VARIABLE, if ssh sent it (SendEnv). */
  sentVariable: string;
  localForwardOpen: boolean;
  remoteForwardOpen: boolean;
}

export interface HostileSsh {
  readonly dir: string;
  /** The stand-in guest, pinned by its host key; user root, key `client_key`. */
  readonly connection: GuestConnection;
  /** `root@localhost:<port>`: the same sshd as a -J hop (root's default key and known_hosts know it). */
  readonly jumpHost: string;
  /** A host key the sshd does not have, `ssh-ed25519 AAAA...`. */
  readonly otherHostKey: string;
  /** Runs bash text in the namespace whose /root is the hostile home, with the agent in the environment. */
  runHostile(text: string, opts?: { stdin?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<ExecResult>;
  /** The sessions the sshd recorded since the last call (and forgets them). */
  takeSessions(): SessionProbe[];
  /** The hostile config's LocalCommand ran. */
  localCommandRan(): boolean;
  /** Control sockets the hostile ControlPath would have made. */
  controlSockets(): string[];
  stop(): void;
}

export async function startHostileSsh(dir: string): Promise<HostileSsh> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const home = path.join(dir, "home");
  const dotSsh = path.join(home, ".ssh");
  fs.mkdirSync(path.join(dotSsh, "config.d"), { recursive: true, mode: 0o700 });
  const controlDir = path.join(dir, "control");
  fs.mkdirSync(controlDir, { mode: 0o700 });
  const [port, localForwardPort, remoteForwardPort] = [await freeLoopbackPort(), await freeLoopbackPort(), await freeLoopbackPort()];
  const known = makeLoopbackKeys(dir, port, ["other_host_key", "examiner_agent_key"]);
  fs.copyFileSync(path.join(dir, "client_key"), path.join(dotSsh, "id_ed25519"));
  fs.chmodSync(path.join(dotSsh, "id_ed25519"), 0o600);
  // root's default known_hosts knows the sshd too: the libvirt-host ssh and the -J hop use the defaults.
  // As a hop it is `localhost` (ssh refuses a hop named like its target).
  fs.writeFileSync(path.join(dotSsh, "known_hosts"), `${known}${known.replace("[127.0.0.1]", "[localhost]")}`);

  const marker = path.join(dir, "local-command-ran");
  fs.writeFileSync(
    path.join(dotSsh, "config"),
    [
      `Include ${dotSsh}/config.d/*.conf`,
      "Host *",
      "  ForwardAgent yes",
      "  ForwardX11 yes",
      "  RequestTTY force",
      "  ControlMaster auto",
      `  ControlPath ${controlDir}/cm-%C`,
      "  ControlPersist 2",
      `  LocalForward 127.0.0.1:${localForwardPort} 127.0.0.1:${port}`,
      `  RemoteForward 127.0.0.1:${remoteForwardPort} 127.0.0.1:${port}`,
      "  SendEnv FORENSIC_SENT_VARIABLE",
      "  StrictHostKeyChecking no",
      "  UserKnownHostsFile /dev/null",
      "",
    ].join("\n"),
  );
  fs.writeFileSync(
    path.join(dotSsh, "config.d", "local.conf"),
    ["Host *", "  PermitLocalCommand yes", `  LocalCommand touch ${marker}`, ""].join("\n"),
  );

  const sessions = path.join(dir, "sessions.jsonl");
  const probe = path.join(dir, "probe");
  fs.writeFileSync(
    probe,
    `#!/bin/bash
# ForceCommand of the stand-in guest: record what this session sees, then run the command asked for.
tty=false; [[ -t 0 || -t 1 ]] && tty=true
agent=false; [[ -n "\${SSH_AUTH_SOCK:-}" ]] && ssh-add -l >/dev/null 2>&1 && agent=true
open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && echo true || echo false; }
jq -cn --arg authSock "\${SSH_AUTH_SOCK:-}" --argjson agentKeys "$agent" --argjson tty "$tty" \\
  --arg sentVariable "\${FORENSIC_SENT_VARIABLE:-}" \\
  --argjson localForwardOpen "$(open ${localForwardPort})" --argjson remoteForwardOpen "$(open ${remoteForwardPort})" \\
  '{$authSock, $agentKeys, $tty, $sentVariable, $localForwardOpen, $remoteForwardOpen}' >>'${sessions}'
exec /bin/bash -c "$SSH_ORIGINAL_COMMAND"
`,
    { mode: 0o755 },
  );
  const sshd = await startLoopbackSshd({
    dir,
    port,
    // Everything the hostile config asks for would be granted: only the client can refuse it.
    extra: [
      "AllowAgentForwarding yes",
      "AllowTcpForwarding yes",
      "PermitTTY yes",
      "AcceptEnv FORENSIC_SENT_VARIABLE",
      `ForceCommand ${probe}`,
    ],
    label: "hostile-config sshd",
  });

  // The examiner's agent, holding a key: a forwarded agent would let the guest use it.
  const agentSocket = path.join(dir, "agent.sock");
  const agent: ChildProcess = spawn("ssh-agent", ["-D", "-a", agentSocket], { stdio: "ignore" });
  for (let i = 0; i < 100 && !fs.existsSync(agentSocket); i++) await new Promise((r) => setTimeout(r, 20));
  execFileSync("ssh-add", ["-q", path.join(dir, "examiner_agent_key")], {
    env: { ...process.env, SSH_AUTH_SOCK: agentSocket },
    stdio: "ignore",
  });

  return {
    dir,
    connection: loopbackConnection(port, path.join(dir, "client_key"), path.join(dir, "known_hosts")),
    jumpHost: `root@localhost:${port}`,
    otherHostKey: publicKeyOf(path.join(dir, "other_host_key.pub")),
    runHostile: (text, opts = {}) =>
      run(
        [
          "unshare",
          "--mount",
          "--propagation",
          "private",
          "/bin/bash",
          "-c",
          'mount --bind "$0" /root && exec /bin/bash -c "$1"',
          home,
          text,
        ],
        {
          stdin: opts.stdin,
          timeoutMs: opts.timeoutMs ?? 30_000,
          env: { ...process.env, SSH_AUTH_SOCK: agentSocket, FORENSIC_SENT_VARIABLE: "examiner-secret", ...opts.env },
        },
      ),
    takeSessions: () => {
      const text = fs.existsSync(sessions) ? fs.readFileSync(sessions, "utf8") : "";
      fs.rmSync(sessions, { force: true });
      return text
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as SessionProbe);
    },
    localCommandRan: () => fs.existsSync(marker),
    controlSockets: () => fs.readdirSync(controlDir),
    stop: () => {
      sshd.kill();
      agent.kill();
    },
  };
}

/** What a session that obeyed only the lab's options looks like from the far side. */
export const ISOLATED_SESSION: SessionProbe = {
  authSock: "",
  agentKeys: false,
  tty: false,
  sentVariable: "",
  localForwardOpen: false,
  remoteForwardOpen: false,
};
