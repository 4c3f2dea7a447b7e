// Types for the part of the fuzz tier's plain-JavaScript mutators (mutators.mjs, run by child
// processes without a TypeScript loader) that the TypeScript tests import.

/** mulberry32: a small seeded generator, so every fuzz failure can be replayed from its seed. */
export function prng(seed: number): () => number;
