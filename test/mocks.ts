/**
 * The one mocks helper: runs a Pulumi program without the engine (`pulumi.runtime.setMocks`, preview
 * off) and records every registered resource with its inputs, parent, dependencies and options, so tests
 * can assert the resource graph and the order `pulumi destroy` would undo it in.
 */
import * as pulumi from "@pulumi/pulumi";
import * as settings from "@pulumi/pulumi/runtime/settings";
import * as rpc from "@pulumi/pulumi/runtime/rpc";

export interface RecordedResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  /** Inputs as the program sent them, secrets unwrapped. */
  readonly inputs: Record<string, any>;
  /** Inputs exactly as serialized on the wire: secrets still wrapped, to prove they were marked. */
  readonly wireInputs: Record<string, any>;
  readonly parent: string;
  /** URNs this resource depends on: explicit `dependsOn` plus every input's property dependencies. */
  readonly dependencies: readonly string[];
  /**
   * Per input, the URNs its value came from. Only these tell the engine's dependent-replacement pass
   * (`pulumi up --replace`) that a resource must be replaced with what it depends on; `dependsOn` does not.
   */
  readonly propertyDependencies: Readonly<Record<string, readonly string[]>>;
  readonly deletedWith: string;
  readonly deleteBeforeReplace: boolean;
  readonly additionalSecretOutputs: readonly string[];
  readonly replaceOnChanges: readonly string[];
}

export interface MockRun {
  readonly resources: RecordedResource[];
  byType(type: string): RecordedResource[];
  byName(name: string): RecordedResource;
  /** URNs in an order the engine may create them in (dependencies and parents first). */
  createOrder(): string[];
  /** URNs in the order `pulumi destroy` undoes them: the reverse of `createOrder`. */
  destroyOrder(): string[];
}

export type OutputsFor = (args: pulumi.runtime.MockResourceArgs) => Record<string, any> | undefined;

/**
 * Sets up mocks and a recorder. `outputsFor` lets a test give custom resources (commands) the outputs
 * their real create hooks would print; by default a resource's outputs are its inputs.
 */
export async function setupMocks(
  options: {
    project?: string;
    stack?: string;
    config?: Record<string, string>;
    secretKeys?: string[];
    outputsFor?: OutputsFor;
  } = {},
): Promise<MockRun> {
  const resources: RecordedResource[] = [];
  let counter = 0;
  if (options.config) {
    // What the engine hands a program: `ns:key` -> string (objects JSON-encoded), plus the secret keys.
    pulumi.runtime.setAllConfig(options.config, options.secretKeys ?? []);
  }
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const state = { ...args.inputs, ...(options.outputsFor?.(args) ?? {}) };
        return { id: args.custom ? `${args.name}-id-${++counter}` : undefined, state };
      },
      call(args) {
        return args.inputs;
      },
    },
    options.project ?? "forensic-lab",
    options.stack ?? "test",
    false,
  );

  const monitor = settings.getMonitor() as any;
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: any) => {
    const type: string = req.getType();
    const name: string = req.getName();
    const parent: string = req.getParent();
    const urn: string = monitor.newUrn(parent, type, name);
    const propertyDependencies: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((deps: any, key: string) => {
      propertyDependencies[key] = deps.getUrnsList();
    });
    registrations++;
    resources.push({
      urn,
      type,
      name,
      custom: req.getCustom(),
      inputs: rpc.deserializeProperties(req.getObject()),
      wireInputs: req.getObject()?.toJavaScript() ?? {},
      parent,
      dependencies: [...new Set([...req.getDependenciesList(), ...Object.values(propertyDependencies).flat()])],
      propertyDependencies,
      deletedWith: req.getDeletedwith(),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
      replaceOnChanges: req.getReplaceonchangesList(),
    });
    return original(req, callback);
  };

  const run: MockRun = {
    resources,
    byType: (type) => resources.filter((r) => r.type === type),
    byName(name) {
      const found = resources.filter((r) => r.name === name);
      if (found.length !== 1) throw new Error(`expected one resource named '${name}', found ${found.length}`);
      return found[0];
    },
    createOrder: () => topologicalOrder(resources),
    destroyOrder: () => topologicalOrder(resources).reverse(),
  };
  return run;
}

/** Kahn's algorithm over parent and dependency edges, ties broken by registration order. */
export function topologicalOrder(resources: readonly RecordedResource[]): string[] {
  const known = new Set(resources.map((r) => r.urn));
  const before = new Map<string, Set<string>>();
  for (const r of resources) {
    const preds = new Set<string>([r.parent, ...r.dependencies].filter((u) => u && known.has(u)));
    before.set(r.urn, preds);
  }
  const order: string[] = [];
  const done = new Set<string>();
  while (order.length < resources.length) {
    const next = resources.find((r) => !done.has(r.urn) && [...before.get(r.urn)!].every((u) => done.has(u)));
    if (!next) throw new Error("dependency cycle among registered resources");
    done.add(next.urn);
    order.push(next.urn);
  }
  return order;
}

/** Resolves an Output in a test (mocks resolve them; `undefined` means unknown at preview). */
export function valueOf<T>(output: pulumi.Output<T> | pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
}

let registrations = 0;

/**
 * Waits until every resource the program will register has reached the (mock) monitor. A resource
 * whose inputs wait on another's outputs registers only after that one resolved, several hops later,
 * so wait for the count to stay still a while rather than for a fixed number of turns.
 */
export async function settle(quietMs = 150): Promise<void> {
  let seen = -1;
  let quietSince = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 10));
    if (registrations !== seen) {
      seen = registrations;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) {
      return;
    }
  }
}
