// Whether counted answers fit configured weights: Pearson's chi-square goodness-of-fit test,
// with the chi-square distribution's tail computed here (regularized upper incomplete gamma,
// as in Numerical Recipes §6.2), so the check needs no statistics package.

/** ln Γ(x) for x > 0 (Lanczos, g=7, n=9; relative error below 1e-13 in this range). */
export function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Q(a, x) = Γ(a, x) / Γ(a), the regularized upper incomplete gamma function. */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = Math.exp(-x + a * Math.log(x) - lnGamma(a));
  if (x < a + 1) {
    // Series for P(a, x); Q = 1 - P.
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1000 && Math.abs(term) > Math.abs(sum) * 1e-16; n++) {
      term *= x / (a + n);
      sum += term;
    }
    return Math.max(0, 1 - sum * lead);
  }
  // Continued fraction for Q (modified Lentz).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return lead * h;
}

/** P(X >= x) for X chi-square distributed with `dof` degrees of freedom. */
export const chiSquareSurvival = (x: number, dof: number): number => gammaQ(dof / 2, x / 2);

export interface FitResult {
  /** Pearson's statistic over the outcomes with a positive expected share. */
  statistic: number;
  dof: number;
  /** Chance of a deviation at least this large if the shares were right. */
  pValue: number;
  /** Answers from outcomes whose expected share is 0 (must be none). */
  unexpected: Record<string, number>;
}

/**
 * Tests counts against expected shares (weights, any scale). Outcomes of weight 0 are not in
 * the statistic: any answer from them is reported in `unexpected`, a certain failure.
 */
export function fit(counts: Record<string, number>, weights: Record<string, number>): FitResult {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const weightSum = Object.values(weights).reduce((a, b) => a + b, 0);
  const unexpected: Record<string, number> = {};
  for (const [k, n] of Object.entries(counts)) if (n > 0 && !(weights[k]! > 0)) unexpected[k] = n;
  const live = Object.entries(weights).filter(([, w]) => w > 0);
  let statistic = 0;
  for (const [k, w] of live) {
    const expected = (total * w) / weightSum;
    statistic += ((counts[k] ?? 0) - expected) ** 2 / expected;
  }
  const dof = live.length - 1;
  return { statistic, dof, pValue: dof > 0 ? chiSquareSurvival(statistic, dof) : 1, unexpected };
}
