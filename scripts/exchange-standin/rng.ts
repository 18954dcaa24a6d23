/**
 * Seeded pseudo-random numbers for the stand-in's scripted trouble. Every feature draws from its own stream
 * (`seed` + a label), so turning one feature on or off never changes the choices of another.
 */
export type Rng = () => number;

/** mulberry32 over a seed mixed with `label`; uniform in [0, 1). */
export function seededRng(seed: number, label: string): Rng {
  let h = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h = Math.imul(h ^ label.charCodeAt(i), 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
  }
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n). */
export function pick(rng: Rng, n: number): number {
  return Math.min(n - 1, Math.floor(rng() * n));
}
