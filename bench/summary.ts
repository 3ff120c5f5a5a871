/**
 * Figures from raw samples: nearest-rank percentiles and the summary of a
 * set of connect times. Pure.
 *
 * @module
 */

/** The nearest-rank percentile `p` (0-100) of `values`; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export interface Distribution {
  count: number;
  p50: number;
  p95: number;
  min: number;
  max: number;
  mean: number;
}

export function distribution(values: readonly number[]): Distribution {
  return {
    count: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    min: values.length ? Math.min(...values) : NaN,
    max: values.length ? Math.max(...values) : NaN,
    mean: values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : NaN,
  };
}

/** A number for a Markdown table: `digits` decimals, "–" for NaN or undefined. */
export function formatNumber(value: number | undefined | null, digits = 1): string {
  if (value === undefined || value === null || !Number.isFinite(value)) return "–";
  return value.toFixed(digits);
}

/** kB as MB with one decimal. */
export function formatMb(kb: number | undefined): string {
  return kb === undefined ? "–" : (kb / 1024).toFixed(1);
}

/** A Markdown table from a header row and data rows. */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
