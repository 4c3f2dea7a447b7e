import { z } from 'zod';

// The zoo's manifest (registry/manifest.json): one entry per network, validated by this schema,
// which is also exported as JSON Schema (registry/manifest.schema.json).

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

/**
 * A name that becomes one file in the cache: no separator (/ or \\), not '.' or '..', no NUL or
 * other control character, 1 to 255 bytes. (The cache checks it again where it joins the path.)
 */
const PlainFileName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^(?!\.\.?$)[^/\\\u0000-\u001f\u007f]+$/, "a plain file name: no '/' or '\\', not '.' or '..', no control characters");

/** A mirror: an http(s) or file: URL, or a path relative to a registry folder; no control characters. */
const ArtifactUrl = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'a URL or path without control characters');

/**
 * The network's structure. `name` is what `--arch` takes (src/arch/spec.ts specFromName, or
 * doconv_mnist_sample for the DO-Conv authors' MNIST conv stack): pull converts with it instead of
 * recognising the network from key names again (torchvision names cannot tell v1 from v1b). Fields a
 * network outside the ResNet family does not have (blocks per stage, groups, width) are left out.
 */
export const ArchitectureSchema = z.object({
  name: z.string().min(1).max(200).regex(/^[a-z0-9_-]+$/, 'an architecture name: lowercase letters, digits, _ and -').optional(),
  family: z.enum(['resnet_v1', 'resnet_v1b', 'resnet_v2', 'plain', 'resnet_v2_keras', 'custom']),
  depth: z.number().int().positive(),
  block: z.enum(['basic', 'bottleneck', 'custom']),
  layers: z.array(z.number().int().positive()).optional(),
  groups: z.number().int().positive().optional(),
  widthPerGroup: z.number().int().positive().optional(),
  numClasses: z.number().int().positive(),
});

export const InputSpecSchema = z.object({
  size: z.tuple([z.number().int().positive(), z.number().int().positive()]),
  channels: z.number().int().positive(),
  layout: z.enum(['NCHW', 'NHWC']),
  mean: z.array(z.number()),
  std: z.array(z.number()),
  resize: z.number().int().positive(),
  crop: z.number().int().positive(),
});

/** What the DO-Conv paper reports for a row of its ImageNet table (top-1 %, ImageNet-1k val). */
export const PaperResultSchema = z.object({
  dataset: z.literal('ImageNet-1k val'),
  baselineTop1: z.number(),
  doconvGain: z.number(),
  doconvTop1: z.number(),
  source: z.string(),
});

/** A run that measured accuracy (written by `eval`, added by `registry verify`). */
export const VerificationSchema = z.object({
  dataset: z.string(),
  datasetFingerprint: z.string(),
  /** Samples that went through the network; `failed` more could not be decoded. */
  count: z.number().int().positive(),
  correct: z.number().int().nonnegative().optional(),
  failed: z.number().int().nonnegative().optional(),
  /** Percentages, four decimals. */
  top1: z.number(),
  top5: z.number().optional(),
  backend: z.string(),
  device: z.string(),
  executionProvider: z.string().optional(),
  decoder: z.string().optional(),
  toolVersion: z.string(),
  date: z.string(),
  modelSha256: Sha256,
});

export const ArtifactSchema = z.object({
  format: z.enum(['pytorch', 'keras', 'gluon', 'onnx', 'tfjs']),
  /**
   * Mirrors, tried in order (at most 16): absolute http(s) URLs; in a registry on disk also file: URLs
   * and paths relative to the manifest. A registry fetched over HTTP may name http(s) URLs only.
   */
  urls: z.array(ArtifactUrl).min(1).max(16),
  sha256: Sha256,
  size: z.number().int().nonnegative(),
  /** The file name in the cache (default: the last segment of the first URL): a plain file name. */
  filename: PlainFileName.optional(),
  /** A .tar(.gz) holding several files (a TensorFlow.js folder). */
  archive: z.boolean().optional(),
  /** An archive's unpacked size in bytes (its files' sizes added up): unpacking stops beyond it. */
  unpackedSize: z.number().int().nonnegative().optional(),
});

export const EntrySchema = z.object({
  name: z.string().regex(/^[a-z0-9_]+$/),
  description: z.string(),
  architecture: ArchitectureSchema,
  input: InputSpecSchema,
  accuracy: z.object({
    paper: PaperResultSchema.optional(),
    /** GluonCV's own published top-1 for the plain (non-DO-Conv) network, for comparison. */
    gluoncvReferenceTop1: z.number().optional(),
    /** The accuracy recorded where the weights were made (correct of count on the named split). */
    recorded: z.object({ dataset: z.string(), split: z.string(), count: z.number().int(), correct: z.number().int().optional(), top1: z.number(), measuredBy: z.string() }).optional(),
    verified: z.array(VerificationSchema),
  }),
  artifacts: z.array(ArtifactSchema),
  /** Why an entry has no artifact (the authors published no ImageNet DO-Conv weights). */
  artifactsNote: z.string().optional(),
  license: z.string(),
  paper: z.object({ title: z.string(), arxiv: z.string(), url: z.string() }),
});

export const ManifestSchema = z.object({
  schemaVersion: z.literal(1),
  name: z.string(),
  entries: z.array(EntrySchema),
});

export type Manifest = z.infer<typeof ManifestSchema>;
export type Entry = z.infer<typeof EntrySchema>;
export type Artifact = z.infer<typeof ArtifactSchema>;
export type Verification = z.infer<typeof VerificationSchema>;

export function manifestJsonSchema(): unknown {
  return z.toJSONSchema(ManifestSchema);
}
