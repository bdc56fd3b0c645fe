/**
 * Where a hook runs, the first word of its file name: `host` on the machine that runs `pulumi up` or on
 * the libvirt host, `guest` in the analysis guest (through lib/hooks/in-guest.sh), `any` where the plan
 * says (the evidence volume's LUKS layer: on the libvirt host for the lvm backend, in the guest for file).
 * Libraries included into hooks are named the same way, for where their code runs.
 */
export type HookSide = "host" | "guest" | "any";

/** A hook's file name: `<side>-<what it does>.sh`. */
export type HookFileName = `${HookSide}-${string}.sh`;

/**
 * The one way TypeScript names a component's hook: `components/<component>/hooks/<side>-<what>.sh`,
 * relative to the package root, as `renderHook`, `hookCommand` and `inGuestCommand` take it.
 */
export function hookFile(component: string, file: HookFileName): string {
  return `components/${component}/hooks/${file}`;
}
