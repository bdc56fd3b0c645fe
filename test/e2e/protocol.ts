/**
 * Messages between the engine (parent process) and the program host (child process, the "language
 * host"), over Node's IPC channel. Property values travel in Pulumi's wire encoding (see wire.ts).
 */
import type { WireMap } from "./wire";

/** One `RegisterResource` call as the SDK made it, with the options the engine acts on. */
export interface Registration {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  /** Parent URN; empty for a root resource. */
  readonly parent: string;
  /** Explicit `dependsOn` plus every input's property dependencies. */
  readonly dependencies: readonly string[];
  readonly inputs: WireMap;
  readonly deletedWith: string;
  readonly deleteBeforeReplace: boolean;
  readonly retainOnDelete: boolean;
  readonly protect: boolean;
  readonly ignoreChanges: readonly string[];
  readonly replaceOnChanges: readonly string[];
  readonly additionalSecretOutputs: readonly string[];
  /** `customTimeouts` as Go durations ("5m", "90s"); empty when not set. */
  readonly customTimeouts: { readonly create: string; readonly update: string; readonly delete: string };
  /** Aliases make a rename keep its state; this engine does not follow them, so it refuses them. */
  readonly aliasCount: number;
}

export interface StartMessage {
  readonly kind: "start";
  readonly program: string;
  readonly project: string;
  readonly stack: string;
  readonly config: Record<string, string>;
  readonly secretKeys: readonly string[];
}

/** Child -> parent. */
export type HostMessage =
  | { readonly kind: "register"; readonly id: number; readonly registration: Registration }
  /** A component's `registerOutputs`: kept in the state like the engine keeps them. */
  | { readonly kind: "outputs"; readonly urn: string; readonly outputs: WireMap }
  | { readonly kind: "done"; readonly outputs: WireMap }
  | { readonly kind: "failed"; readonly message: string };

/** Parent -> child. */
export type EngineMessage =
  | StartMessage
  | { readonly kind: "registered"; readonly id: number; readonly resourceId: string; readonly outputs: WireMap }
  | { readonly kind: "rejected"; readonly id: number; readonly message: string };
