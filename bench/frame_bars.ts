/**
 * A frame number burned into a video's pixels, for the glass-to-glass
 * bench (bench/hls_latency.ts): `bits` vertical bars across the top half of
 * the picture, bit 0 on the left, white for 1 and black for 0, and their
 * complement in the bottom half. A reader samples the middle of each bar in
 * both halves; a frame whose halves agree on any bar (ringing, a blend of
 * two frames, a scaled or cropped picture) is unreadable rather than
 * misread. tests/browser/hls_glass.mjs reads the same layout from a canvas.
 * Pure: no `Deno.*`.
 *
 * @module
 */

/** Bars per half: frame numbers wrap at 2^16 (43 minutes at 25 fps). */
export const FRAME_BITS = 16;

/**
 * An ffmpeg `geq` filter that draws frame `N`'s number over the whole
 * picture (luma only, grey chroma).
 */
export function barsFilter(bits = FRAME_BITS): string {
  const bit = `mod(floor(N/pow(2,floor(X*${bits}/W))),2)`;
  // Top half: 255 × bit; bottom half: 255 × (1 − bit).
  return `geq=lum='if(lt(Y,H/2),255*${bit},255-255*${bit})':cb=128:cr=128`;
}

/** The number in one 8-bit grey (luma) frame, `width` × `height`; -1 when unreadable. */
export function readBars(
  gray: Uint8Array,
  width: number,
  height: number,
  bits = FRAME_BITS,
): number {
  if (gray.byteLength < width * height) throw new RangeError("Cannot read bars: short frame");
  const topRow = Math.floor(height / 4) * width;
  const bottomRow = Math.floor(height * 3 / 4) * width;
  let number = 0;
  for (let bit = 0; bit < bits; bit++) {
    const x = Math.floor((bit + 0.5) * width / bits);
    const high = gray[topRow + x]! > 128;
    if (high === gray[bottomRow + x]! > 128) return -1;
    if (high) number += 2 ** bit;
  }
  return number;
}
