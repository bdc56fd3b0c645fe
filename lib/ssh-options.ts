import { readHook } from "./shell";

/**
 * The ssh options the lab's hooks use, read from their one definition in `lib/hooks/ssh-options.sh`
 * (the lines between `# forensic-lab:ssh-options <list>` and `# forensic-lab:ssh-options end`), so the
 * examiner's ssh command cannot drift from what the hooks run. `any-host`: no ssh_config, nothing
 * forwarded, no control socket, no local command, host keys checked strictly. `guest`: no agent, only
 * the named key, only the pinned host key.
 */
export const SSH_OPTIONS_LIBRARY = "lib/hooks/ssh-options.sh";

export type SshOptionList = "any-host" | "guest";

// Each word goes into command text unquoted, so it must need no quoting.
const PLAIN_WORD = /^[A-Za-z0-9_=./-]+$/;

export function sshOptions(list: SshOptionList): readonly string[] {
  const lines = readHook(SSH_OPTIONS_LIBRARY)
    .split("\n")
    .map((line) => line.trim());
  const start = lines.indexOf(`# forensic-lab:ssh-options ${list}`);
  const end = lines.indexOf("# forensic-lab:ssh-options end", start);
  if (start < 0 || end < 0) throw new Error(`${SSH_OPTIONS_LIBRARY}: no '${list}' option list`);
  const words = lines
    .slice(start + 1, end)
    .filter((line) => line !== "" && !line.startsWith("#"))
    .flatMap((line) => line.split(/\s+/));
  for (const word of words) {
    if (!PLAIN_WORD.test(word))
      throw new Error(`${SSH_OPTIONS_LIBRARY}: '${word}' in the '${list}' list needs quoting; keep the lists plain words`);
  }
  return words;
}
