/**
 * Runs the forensic-lab policy pack without the Pulumi CLI: turns resources recorded by the shared
 * mocks helper (test/mocks.ts), or built by hand, into the arguments @pulumi/policy's analyzer server
 * would hand each policy, calls `remediateResource`/`validateResource`/`validateStack` directly, and
 * returns the violations.
 *
 * Faithful where it matters: props are decoded from the wire form with @pulumi/policy's own
 * deserializer and wrapped in its unknown-checking proxy, so secrets arrive unwrapped in validations and
 * as `Secret` in remediations, and touching an unknown throws exactly as during `pulumi preview`.
 * One difference: the engine gives stack policies each resource's outputs. A command's outputs repeat
 * its inputs, so for commands they are the same; for components the engine would pass what
 * `registerOutputs` sent, and the pack's stack policies do not read component props for that reason.
 */
import {
  EnforcementLevel,
  Policies,
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { POLICY_PACK_NAME, policies as allPolicies } from "../../policy/policies";
import { version as POLICY_PACK_VERSION } from "../../policy/package.json";
import { isUnknownValueError, unknownCheckingProxy } from "../../policy/lib/unknowns";
import { RecordedResource } from "../mocks";

// @pulumi/policy's decoder is internal (no typings); using it keeps the harness's view of secrets and
// unknowns identical to the analyzer server's.
const { deserializeProperties } = require("@pulumi/policy/deserialize") as {
  deserializeProperties(struct: { toJavaScript(): Record<string, unknown> }, proxySecrets: boolean): Record<string, any>;
};

export interface Violation {
  readonly policy: string;
  /** The level the engine would report; a failed remediation stops the deployment, so it is "mandatory". */
  readonly enforcementLevel: EnforcementLevel;
  readonly message: string;
  /** The resource the violation is about, as the engine names it (stack policies may leave it out). */
  readonly urn?: string;
  /** That resource's name, for assertions. */
  readonly name?: string;
}

export interface PolicyRunOptions {
  /** @default every policy of the pack (`policy/policies`) */
  readonly policies?: Policies;
  /** Policy pack config by policy name, as in `pulumi up --policy-pack-config`. */
  readonly config?: Readonly<Record<string, Readonly<Record<string, unknown>> | EnforcementLevel>>;
  /** @default "mandatory", the pack's own default */
  readonly packEnforcementLevel?: EnforcementLevel;
}

const DEFAULT_TIMEOUTS = { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 };

function options(record: RecordedResource): PolicyResourceOptions {
  return {
    protect: false,
    ignoreChanges: [],
    deleteBeforeReplace: record.deleteBeforeReplace,
    aliases: [],
    customTimeouts: DEFAULT_TIMEOUTS,
    additionalSecretOutputs: [...record.additionalSecretOutputs],
    ...(record.parent ? { parent: record.parent } : {}),
  };
}

function decode(record: RecordedResource, proxySecrets: boolean): Record<string, any> {
  return unknownCheckingProxy(deserializeProperties({ toJavaScript: () => record.wireInputs }, proxySecrets));
}

function policyConfig(options: PolicyRunOptions, policy: string): { level?: EnforcementLevel; properties: Record<string, unknown> } {
  const entry = options.config?.[policy];
  if (entry === undefined) return { properties: {} };
  if (typeof entry === "string") return { level: entry, properties: {} };
  const { enforcementLevel, ...properties } = entry as Record<string, unknown>;
  return { level: enforcementLevel as EnforcementLevel | undefined, properties };
}

class NotApplicable extends Error {}
const notApplicable = (reason?: string): never => {
  throw new NotApplicable(reason);
};

/** What a resource policy receives for one resource; `remediation` decodes secrets as the remediate RPC does. */
export function resourceArgs(record: RecordedResource, config: Record<string, unknown> = {}, remediation = false): ResourceValidationArgs {
  const props = decode(record, remediation);
  return {
    type: record.type,
    props,
    urn: record.urn,
    name: record.name,
    opts: options(record),
    stackTags: new Map(),
    isType: () => false,
    asType: () => undefined,
    getConfig: <T extends object>() => config as T,
    notApplicable,
  };
}

/** What a stack policy receives: every resource, with parents and dependencies linked. */
export function stackArgs(records: readonly RecordedResource[], config: Record<string, unknown> = {}): StackValidationArgs {
  const byUrn = new Map<string, PolicyResource & { parent?: PolicyResource; dependencies: PolicyResource[] }>();
  for (const record of records) {
    const props = decode(record, false);
    byUrn.set(record.urn, {
      type: record.type,
      props,
      urn: record.urn,
      name: record.name,
      opts: options(record),
      dependencies: [],
      propertyDependencies: {},
      isType: () => false,
      asType: () => undefined,
    });
  }
  for (const record of records) {
    const resource = byUrn.get(record.urn)!;
    if (record.parent && byUrn.has(record.parent)) resource.parent = byUrn.get(record.parent);
    resource.dependencies = record.dependencies.flatMap((u) => (byUrn.has(u) ? [byUrn.get(u)!] : []));
  }
  return {
    resources: [...byUrn.values()],
    stackTags: new Map(),
    getConfig: <T extends object>() => config as T,
    notApplicable,
  };
}

const isStackPolicy = (p: ResourceValidationPolicy | StackValidationPolicy): p is StackValidationPolicy =>
  typeof (p as StackValidationPolicy).validateStack === "function";

const ROOT_STACK = "pulumi:pulumi:Stack";

/**
 * The URNs the engine would give: the mocks monitor qualifies a child's type with its parent's type
 * only (`Parent$Child`), the engine with the whole chain (`Case$PartitionMount$command:local:Command`),
 * leaving out the root stack. Policies read ancestry from URNs, so the harness rebuilds them.
 */
export function withEngineUrns(records: readonly RecordedResource[]): RecordedResource[] {
  const renamed = new Map<string, string>();
  const qualified = new Map<string, string>();
  const byUrn = new Map(records.map((r) => [r.urn, r]));
  const qualify = (record: RecordedResource): string => {
    const known = qualified.get(record.urn);
    if (known !== undefined) return known;
    const parent = byUrn.get(record.parent);
    const type = record.type === ROOT_STACK || !parent || parent.type === ROOT_STACK ? record.type : `${qualify(parent)}$${record.type}`;
    qualified.set(record.urn, type);
    return type;
  };
  for (const record of records) {
    const [stack, project] = record.urn.replace(/^urn:pulumi:/, "").split("::");
    renamed.set(record.urn, `urn:pulumi:${stack}::${project}::${qualify(record)}::${record.name}`);
  }
  const rename = (urn: string): string => renamed.get(urn) ?? urn;
  return records.map((r) => ({
    ...r,
    urn: rename(r.urn),
    parent: r.parent ? rename(r.parent) : r.parent,
    dependencies: r.dependencies.map(rename),
    deletedWith: r.deletedWith ? rename(r.deletedWith) : r.deletedWith,
  }));
}

/**
 * Runs policies over recorded resources the way `pulumi up --policy-pack policy` would: remediations
 * first (a thrown error stops the deployment), then resource validations, then stack validations.
 */
export async function runPolicies(recorded: readonly RecordedResource[], runOptions: PolicyRunOptions = {}): Promise<Violation[]> {
  const records = withEngineUrns(recorded);
  const names = new Map(records.map((r) => [r.urn, r.name]));
  const violations: Violation[] = [];
  for (const policy of runOptions.policies ?? allPolicies) {
    const { level: configured, properties } = policyConfig(runOptions, policy.name);
    const level = configured ?? policy.enforcementLevel ?? runOptions.packEnforcementLevel ?? "mandatory";
    if (level === "disabled") continue;
    // A violation reported by a policy at the remediate level means remediation did not fix it.
    const reported: EnforcementLevel = level === "remediate" ? "mandatory" : level;
    const add = (violation: Omit<Violation, "name">): void => {
      violations.push({ ...violation, ...(violation.urn && names.has(violation.urn) ? { name: names.get(violation.urn) } : {}) });
    };
    const report = (urn?: string) => (message: string, violationUrn?: string) =>
      add({ policy: policy.name, enforcementLevel: reported, message, urn: urn ?? violationUrn });
    const guarded = async (urn: string | undefined, run: () => unknown): Promise<void> => {
      try {
        await run();
      } catch (err) {
        if (err instanceof NotApplicable) return;
        if (isUnknownValueError(err)) {
          // Word for word what the analyzer server says.
          const from = `policy '${policy.name}' from policy pack '${POLICY_PACK_NAME}@v${POLICY_PACK_VERSION}'`;
          add({ policy: policy.name, enforcementLevel: "advisory", message: `can't run ${from} during preview: ${err.message}`, urn });
          return;
        }
        throw err;
      }
    };

    if (isStackPolicy(policy)) {
      await guarded(undefined, () => policy.validateStack(stackArgs(records, properties), report()));
      continue;
    }
    if (policy.remediateResource && level === "remediate") {
      for (const record of records) {
        try {
          await policy.remediateResource(resourceArgs(record, properties, true));
        } catch (err) {
          if (err instanceof NotApplicable || isUnknownValueError(err)) continue;
          add({ policy: policy.name, enforcementLevel: "mandatory", message: (err as Error).message, urn: record.urn });
        }
      }
    }
    const validateResource = policy.validateResource;
    const validations = validateResource === undefined ? [] : Array.isArray(validateResource) ? validateResource : [validateResource];
    for (const record of records) {
      for (const validate of validations) {
        await guarded(record.urn, () => validate(resourceArgs(record, properties), report(record.urn)));
      }
    }
  }
  return violations;
}

export interface HandBuiltResource {
  readonly type: string;
  readonly name: string;
  /** Plain input values, as the program would pass them. */
  readonly props?: Record<string, unknown>;
  /** The parent's record; the URN then carries the parent's type chain, as the engine builds it. */
  readonly parent?: RecordedResource;
  /** Input keys the program marked secret (`pulumi.secret(...)`). */
  readonly secretKeys?: readonly string[];
  /** Input keys unknown at preview (computed from another resource's outputs). */
  readonly unknownKeys?: readonly string[];
  readonly additionalSecretOutputs?: readonly string[];
  readonly custom?: boolean;
}

/** The type chain of a URN: `A$B$C` for a resource of type C under B under A. */
function qualifiedType(urn: string): string {
  return urn.replace(/^urn:pulumi:/, "").split("::")[2] ?? "";
}

/**
 * A resource as the mocks recorder would have recorded it, for tests that build a stack by hand: one
 * safe factory per component and one mutated property per case.
 */
export function handBuiltRecord(resource: HandBuiltResource): RecordedResource {
  const props = resource.props ?? {};
  const wireInputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined) continue;
    if (resource.unknownKeys?.includes(key)) wireInputs[key] = unknownValue;
    else if (resource.secretKeys?.includes(key)) wireInputs[key] = { [specialSigKey]: specialSecretSig, value };
    else wireInputs[key] = value;
  }
  const qualified = resource.parent ? `${qualifiedType(resource.parent.urn)}$${resource.type}` : resource.type;
  return {
    urn: `urn:pulumi:test::forensic-lab::${qualified}::${resource.name}`,
    type: resource.type,
    name: resource.name,
    custom: resource.custom ?? resource.type.startsWith("command:"),
    inputs: props,
    wireInputs,
    parent: resource.parent?.urn ?? "",
    dependencies: [],
    propertyDependencies: {},
    deletedWith: "",
    deleteBeforeReplace: false,
    additionalSecretOutputs: resource.additionalSecretOutputs ?? [],
    replaceOnChanges: [],
  };
}
