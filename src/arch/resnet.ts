import { DoconvError } from '../errors.js';
import type { Graph, GraphNode, Op, Pads4 } from '../graph/ir.js';
import type { Tensor } from '../tensor/tensor.js';
import type { NamingScheme, ParamRole, ParamSource } from './naming.js';
import { archName, stagePlanes, type ResNetSpec } from './spec.js';

/** Keys a state dict may hold that no graph uses (torch's BatchNorm counter). */
const IGNORED_KEY = /(^|\.)num_batches_tracked$/;

export interface BuiltNetwork {
  graph: Graph;
  /** Checkpoint keys the graph consumed. */
  used: Set<string>;
}

/**
 * Builds the Graph of a ResNet-family network from named parameters. Every parameter is looked up
 * through the naming scheme and checked against the shape the structure implies; a missing or
 * differently shaped tensor, or a tensor the structure does not use, is an error naming the key.
 */
export function buildResNet(spec: ResNetSpec, source: ParamSource, naming: NamingScheme, inputSize?: [number, number]): BuiltNetwork {
  const b = new Builder(spec, source, naming);
  const size = inputSize ?? (spec.stem === 'cifar' ? [32, 32] : [224, 224]);
  if (spec.family === 'resnet_v2_keras') return b.kerasV2(size);
  let x = 'input';
  const v2 = spec.family === 'resnet_v2';
  // v2's input BatchNorm has scale=False, center=False: MXNet runs it with fix_gamma (gamma read as 1
  // whatever is stored) and a beta that never trains; the stored gamma is consumed but not used.
  if (v2) x = b.bn('stem.bn_data', x, 3, true, true);
  const cin = spec.inChannels ?? 3;
  if (spec.stem === 'imagenet') {
    x = b.conv('stem.conv', x, cin, 64, 7, 2, 3);
  } else {
    x = b.conv('stem.conv', x, cin, 16, 3, 1, 1);
  }
  x = b.relu('stem.relu', b.bn('stem.bn', x, spec.stem === 'imagenet' ? 64 : 16));
  if (spec.stem === 'imagenet') x = b.node('stem.pool', { kind: 'MaxPool', kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1] }, [x]);
  const planes = stagePlanes(spec);
  const expansion = spec.block === 'bottleneck' ? 4 : 1;
  let channels = spec.stem === 'imagenet' ? 64 : 16;
  planes.forEach((p, s) => {
    for (let i = 0; i < spec.layers[s]!; i++) {
      const stride = i === 0 && s > 0 ? 2 : 1;
      const out = p * expansion;
      const name = `s${s}.b${i}`;
      const needsDown = i === 0 && (stride !== 1 || channels !== out);
      x = spec.block === 'basic' ? b.basicBlock(name, x, channels, p, stride, needsDown) : b.bottleneck(name, x, channels, p, stride, needsDown);
      channels = out;
    }
  });
  if (v2) x = b.relu('head.relu', b.bn('head.bn', x, channels));
  x = b.node('head.pool', { kind: 'GlobalAvgPool' }, [x]);
  x = b.node('head.flatten', { kind: 'Flatten' }, [x]);
  x = b.dense('head.fc', x, channels, spec.numClasses);
  b.checkAllUsed();
  return { graph: { input: 'input', output: x, inputShape: [cin, size[0], size[1]], nodes: b.nodes }, used: b.used };
}

class Builder {
  readonly nodes: GraphNode[] = [];
  readonly used = new Set<string>();

  constructor(private readonly spec: ResNetSpec, private readonly source: ParamSource, private readonly naming: NamingScheme) {}

  private param(struct: string, role: ParamRole, shape: number[], optional = false): Tensor | undefined {
    const key = this.naming.key(struct, role);
    const t = this.source.get(key) ?? (optional ? undefined : this.source.supply?.(key, shape));
    if (t === undefined) {
      if (optional) return undefined;
      throw new DoconvError('DOCONV_SHAPE_MISMATCH', `${archName(this.spec)} needs '${key}' [${shape.join(', ')}], which the checkpoint does not have`, { key });
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new DoconvError('DOCONV_SHAPE_MISMATCH', `${archName(this.spec)} expects '${key}' of shape [${shape.join(', ')}], the checkpoint has [${t.shape.join(', ')}]`, { key });
    }
    this.used.add(key);
    return t;
  }

  node(name: string, op: Op, inputs: string[]): string {
    this.nodes.push({ name, op, inputs, output: name });
    return name;
  }

  conv(name: string, x: string, cin: number, cout: number, k: number, stride: number, pad: number, groups = 1): string {
    const weight = this.param(name, 'weight', [cout, cin / groups, k, k])!;
    const bias = this.param(name, 'bias', [cout], true);
    const pads: Pads4 = [pad, pad, pad, pad];
    return this.node(name, { kind: 'Conv', weight, ...(bias ? { bias } : {}), stride: [stride, stride], pads, dilation: [1, 1], groups }, [x]);
  }

  bn(name: string, x: string, c: number, affineOptional = false, fixGamma = false): string {
    const stored = this.param(name, 'gamma', [c], affineOptional);
    const scale = fixGamma ? undefined : stored;
    const shift = this.param(name, 'beta', [c], affineOptional);
    const mean = this.param(name, 'mean', [c])!;
    const variance = this.param(name, 'var', [c])!;
    return this.node(name, { kind: 'BatchNorm', ...(scale ? { scale } : {}), ...(shift ? { shift } : {}), mean, variance, epsilon: this.naming.epsilon ?? 1e-5 }, [x]);
  }

  relu(name: string, x: string): string {
    return this.node(name, { kind: 'Relu' }, [x]);
  }

  dense(name: string, x: string, inF: number, outF: number): string {
    const weight = this.param(name, 'weight', [outF, inF])!;
    const bias = this.param(name, 'bias', [outF], true);
    return this.node(name, { kind: 'Dense', weight, ...(bias ? { bias } : {}) }, [x]);
  }

  private shortcut(name: string, x: string, act: string, cin: number, cout: number, stride: number, needsDown: boolean): string {
    if (!needsDown) return x;
    if (this.spec.family === 'resnet_v2') return this.conv(`${name}.down.conv`, act, cin, cout, 1, stride, 0);
    return this.bn(`${name}.down.bn`, this.conv(`${name}.down.conv`, x, cin, cout, 1, stride, 0), cout);
  }

  basicBlock(name: string, x: string, cin: number, planes: number, stride: number, needsDown: boolean): string {
    const f = this.spec.family;
    if (f === 'resnet_v2') {
      const act = this.relu(`${name}.relu1`, this.bn(`${name}.bn1`, x, cin));
      const short = this.shortcut(name, x, act, cin, planes, stride, needsDown);
      let y = this.conv(`${name}.conv1`, act, cin, planes, 3, stride, 1);
      y = this.relu(`${name}.relu2`, this.bn(`${name}.bn2`, y, planes));
      y = this.conv(`${name}.conv2`, y, planes, planes, 3, 1, 1);
      return this.node(`${name}.add`, { kind: 'Add' }, [y, short]);
    }
    let y = this.relu(`${name}.relu1`, this.bn(`${name}.bn1`, this.conv(`${name}.conv1`, x, cin, planes, 3, stride, 1), planes));
    // basic blocks with groups > 1 group their second 3x3 conv (the small zoo's grouped layer)
    y = this.bn(`${name}.bn2`, this.conv(`${name}.conv2`, y, planes, planes, 3, 1, 1, this.spec.groups), planes);
    if (f === 'plain') return this.relu(`${name}.relu2`, y);
    const short = this.shortcut(name, x, x, cin, planes, stride, needsDown);
    return this.relu(`${name}.relu2`, this.node(`${name}.add`, { kind: 'Add' }, [y, short]));
  }

  bottleneck(name: string, x: string, cin: number, planes: number, stride: number, needsDown: boolean): string {
    const f = this.spec.family;
    const g = this.spec.groups;
    const width = Math.floor((planes * this.spec.widthPerGroup) / 64) * g;
    const out = planes * 4;
    if (f === 'resnet_v2') {
      const act = this.relu(`${name}.relu1`, this.bn(`${name}.bn1`, x, cin));
      const short = this.shortcut(name, x, act, cin, out, stride, needsDown);
      let y = this.conv(`${name}.conv1`, act, cin, width, 1, 1, 0);
      y = this.relu(`${name}.relu2`, this.bn(`${name}.bn2`, y, width));
      y = this.conv(`${name}.conv2`, y, width, width, 3, stride, 1, g);
      y = this.relu(`${name}.relu3`, this.bn(`${name}.bn3`, y, width));
      y = this.conv(`${name}.conv3`, y, width, out, 1, 1, 0);
      return this.node(`${name}.add`, { kind: 'Add' }, [y, short]);
    }
    // v1 strides the first 1x1 conv; v1b (torchvision, ResNeXt) strides the 3x3.
    const s1 = f === 'resnet_v1' ? stride : 1;
    const s2 = f === 'resnet_v1' ? 1 : stride;
    let y = this.relu(`${name}.relu1`, this.bn(`${name}.bn1`, this.conv(`${name}.conv1`, x, cin, width, 1, s1, 0), width));
    y = this.relu(`${name}.relu2`, this.bn(`${name}.bn2`, this.conv(`${name}.conv2`, y, width, width, 3, s2, 1, g), width));
    y = this.bn(`${name}.bn3`, this.conv(`${name}.conv3`, y, width, out, 1, 1, 0), out);
    if (f === 'plain') return this.relu(`${name}.relu3`, y);
    const short = this.shortcut(name, x, x, cin, out, stride, needsDown);
    return this.relu(`${name}.relu3`, this.node(`${name}.add`, { kind: 'Add' }, [y, short]));
  }

  /** keras.applications ResNetV2 (resnet.py stack2/block2), bottlenecks only. */
  kerasV2(size: [number, number]): BuiltNetwork {
    const spec = this.spec;
    if (spec.block !== 'bottleneck') throw new DoconvError('BAD_ARGUMENT', 'Keras ResNetV2 is built from bottleneck blocks only');
    let x = this.conv('stem.conv', 'input', 3, 64, 7, 2, 3);
    // ZeroPadding2D then MaxPooling2D: zeros, not -inf, at the border (the values may be negative here).
    x = this.node('stem.pool', { kind: 'MaxPool', kernel: [3, 3], stride: [2, 2], pads: [0, 0, 0, 0], zeroPad: [1, 1, 1, 1] }, [x]);
    let cin = 64;
    const planes = stagePlanes(spec);
    planes.forEach((p, s) => {
      const n = spec.layers[s]!;
      for (let i = 0; i < n; i++) {
        const name = `s${s}.b${i}`;
        const stride = i === n - 1 && s < planes.length - 1 ? 2 : 1;
        const act = this.relu(`${name}.relu1`, this.bn(`${name}.bn1`, x, cin));
        let short = x;
        if (i === 0) short = this.conv(`${name}.down.conv`, act, cin, 4 * p, 1, 1, 0);
        else if (stride > 1) short = this.node(`${name}.down.pool`, { kind: 'MaxPool', kernel: [1, 1], stride: [stride, stride], pads: [0, 0, 0, 0] }, [x]);
        let y = this.relu(`${name}.relu2`, this.bn(`${name}.bn2`, this.conv(`${name}.conv1`, act, cin, p, 1, 1, 0), p));
        y = this.relu(`${name}.relu3`, this.bn(`${name}.bn3`, this.conv(`${name}.conv2`, y, p, p, 3, stride, 1), p));
        y = this.conv(`${name}.conv3`, y, p, 4 * p, 1, 1, 0);
        x = this.node(`${name}.add`, { kind: 'Add' }, [y, short]);
        cin = 4 * p;
      }
    });
    x = this.relu('head.relu', this.bn('head.bn', x, cin));
    x = this.node('head.pool', { kind: 'GlobalAvgPool' }, [x]);
    x = this.node('head.flatten', { kind: 'Flatten' }, [x]);
    x = this.dense('head.fc', x, cin, spec.numClasses);
    this.checkAllUsed();
    return { graph: { input: 'input', output: x, inputShape: [3, size[0], size[1]], nodes: this.nodes }, used: this.used };
  }

  checkAllUsed(): void {
    for (const key of this.source.keys()) {
      if (!this.used.has(key) && !IGNORED_KEY.test(key)) {
        throw new DoconvError('DOCONV_SHAPE_MISMATCH', `'${key}' is not part of ${archName(this.spec)} (the checkpoint has a tensor this architecture does not use)`, { key });
      }
    }
  }
}

/** Every parameter key a structure needs under a naming, with its shape (optional biases left out). */
export function expectedParams(spec: ResNetSpec, naming: NamingScheme, make: (shape: number[]) => Tensor): Map<string, Tensor> {
  const made = new Map<string, Tensor>();
  const source: ParamSource = {
    get: (key) => made.get(key),
    keys: () => [...made.keys()],
    supply: (key, shape) => {
      const t = make(shape);
      made.set(key, t);
      return t;
    },
  };
  buildResNet(spec, source, naming);
  return made;
}
