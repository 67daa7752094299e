/** Medians and friends for a handful of runs. */

/** The median (the mean of the middle two for an even count); NaN for none. */
export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function min(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x));
  return s.length ? Math.min(...s) : NaN;
}

export function max(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x));
  return s.length ? Math.max(...s) : NaN;
}
