/**
 * A stand-in guest for host-only tests: a real sshd on 127.0.0.1 with its own host key (pinned in a
 * known_hosts file) and client key, as `lib/hooks/in-guest.test.ts` uses. In-guest hooks then run on
 * this machine as root, so the transfer's whole host side (jail, pipes, resume) runs in seconds. The
 * domain is libvirt's built-in test driver's "test", which is always running: delete hooks really run.
 */
import * as fs from "fs";
import { freeLoopbackPort, loopbackConnection, makeLoopbackKeys, startLoopbackSshd } from "./loopback";
import * as path from "path";
import { GuestConnection } from "../../lib/shell";

export interface LoopbackGuest {
  readonly connection: GuestConnection;
  /**
   * Only for `{ hostile: true }`: from now on, whenever the host sends the hook `<hookFile>` (say
   * `guest-hash.sh`), this guest runs `script` instead, with the host's rendered hook text in
   * HOOK_SCRIPT. `lie(hookFile, undefined)` makes it honest again for that hook.
   */
  lie(hookFile: string, script: string | undefined): void;
  stop(): void;
}

/**
 * The hostile variant is what a compromised guest is: it gets the host's script and runs whatever it
 * likes instead. Its sshd has a ForceCommand that looks at the hook's name line in the script it was
 * sent (`# forensic-lab hook: <file>`) and runs a lie, when one is set for that file.
 */
const HOSTILE_FORCE_COMMAND = `#!/usr/bin/env bash
set -euo pipefail
eval "words=($SSH_ORIGINAL_COMMAND)"
hook=$(sed -n 's/^# forensic-lab hook: //p' <<<"\${words[2]:-}" | head -n 1)
if [[ -n "$hook" && -f "$LIES/$(basename -- "$hook")" ]]; then
  HOOK_SCRIPT=\${words[2]} exec bash "$LIES/$(basename -- "$hook")"
fi
exec bash -c "$SSH_ORIGINAL_COMMAND"
`;

export async function startLoopbackGuest(dir: string, opts: { hostile?: boolean } = {}): Promise<LoopbackGuest> {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freeLoopbackPort();
  makeLoopbackKeys(dir, port);
  // ForceCommand goes through the shell: a folder name without spaces or quotes.
  const lies = opts.hostile ? fs.mkdtempSync("/tmp/forensic-lab-lies-") : "";
  if (opts.hostile) {
    fs.writeFileSync(
      path.join(lies, "force-command"),
      `#!/usr/bin/env bash\nexport LIES=${lies}\n${HOSTILE_FORCE_COMMAND.replace(/^#!.*\n/, "")}`,
      { mode: 0o755 },
    );
  }
  const sshd = await startLoopbackSshd({
    dir,
    port,
    extra: opts.hostile ? [`ForceCommand ${path.join(lies, "force-command")}`] : [],
  });
  return {
    connection: loopbackConnection(port, path.join(dir, "client_key"), path.join(dir, "known_hosts")),
    lie: (hookFile, script) => {
      if (!opts.hostile) throw new Error("lie(): this loopback guest was started honest");
      const file = path.join(lies, path.basename(hookFile));
      if (script === undefined) fs.rmSync(file, { force: true });
      else fs.writeFileSync(file, script);
    },
    stop: () => {
      sshd.kill();
      if (lies) fs.rmSync(lies, { recursive: true, force: true });
    },
  };
}
