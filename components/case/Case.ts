import * as pulumi from "@pulumi/pulumi";
import type { CaseConfig } from "../../lib/config";
import type { ImageManifest } from "../../lib/inspect";
import { TYPE } from "../../lib/tokens";

export interface CaseArgs {
  /** The validated, resolved stack config (`loadCaseConfigFromPulumi`). */
  readonly config: CaseConfig;
  /** What `inspect` found for each image, by image name: the file set the lab works from. */
  readonly manifests: Readonly<Record<string, ImageManifest>>;
}

/** One image's evidence manifest as exported by the stack: what the image is made of, nothing more. */
export interface EvidenceSummary {
  readonly name: string;
  readonly top: string;
  readonly format: string;
  readonly virtualSize: number;
  readonly transfer: string;
  readonly chain: ImageManifest["chain"];
  readonly files: ImageManifest["files"];
}

/**
 * The lab for one case: everything `pulumi up` builds for it hangs below this component, and
 * `pulumi destroy` removes it in reverse.
 */
export class Case extends pulumi.ComponentResource {
  public readonly caseId: string;
  public readonly examiner: string;
  /** Per image: format, virtual size, chain (top first) and every file with its size. */
  public readonly evidence: pulumi.Output<EvidenceSummary[]>;

  constructor(name: string, args: CaseArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(TYPE.Case, name, { caseId: args.config.caseId, examiner: args.config.examiner }, opts);
    const { config, manifests } = args;
    for (const image of config.images) {
      if (!manifests[image.name]) throw new pulumi.ResourceError(`no manifest for image '${image.name}'`, this);
    }

    this.caseId = config.caseId;
    this.examiner = config.examiner;
    this.evidence = pulumi.output(
      config.images.map((image) => {
        const manifest = manifests[image.name];
        return {
          name: image.name,
          top: manifest.chain[0].path,
          format: manifest.format,
          virtualSize: manifest.virtualSize,
          transfer: image.transfer,
          chain: manifest.chain,
          files: manifest.files,
        };
      }),
    );
    this.registerOutputs({ caseId: this.caseId, examiner: this.examiner, evidence: this.evidence });
  }
}
