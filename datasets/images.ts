/**
 * Decoding PNG (npm:fast-png) and JPEG (npm:jpeg-js) files to 8-bit RGB, and
 * bilinear resizing, all in plain JS.
 * @module
 */
import { convertIndexedToRgb, decode as decodePng } from "fast-png";
import jpeg from "jpeg-js";
import { DatasetError } from "./errors.ts";

/** An 8-bit RGB image, HWC. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Decodes PNG or JPEG bytes (told apart by their signature) to RGB; alpha is dropped. */
export function decodeImage(bytes: Uint8Array, path: string): RgbImage {
  try {
    if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
      return pngToRgb(bytes);
    }
    if (bytes[0] === 0xff && bytes[1] === 0xd8) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
      return { width: img.width, height: img.height, data: img.data };
    }
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new DatasetError(`${path}: cannot decode image (${why}); expected a PNG or JPEG file`);
  }
  throw new DatasetError(`${path}: not a PNG or JPEG file (unknown signature)`);
}

function pngToRgb(bytes: Uint8Array): RgbImage {
  const png = decodePng(bytes);
  const { width, height } = png;
  let data: ArrayLike<number> = png.data;
  let channels = png.channels;
  let scale = 1;
  if (png.palette) {
    data = convertIndexedToRgb(png);
    channels = png.palette[0].length;
  } else if (png.depth === 16) {
    scale = 1 / 257;
  } else if (png.depth < 8) {
    data = unpackBits(png.data as Uint8Array, width, height, png.depth);
  }
  const rgb = new Uint8Array(width * height * 3);
  const colour = channels >= 3;
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      rgb[3 * p + c] = Math.round(data[p * channels + (colour ? c : 0)] * scale);
    }
  }
  return { width, height, data: rgb };
}

/** Greyscale PNG rows of 1/2/4-bit samples (each row byte-aligned) to 8-bit values. */
function unpackBits(packed: Uint8Array, width: number, height: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const max = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const v = (packed[y * rowBytes + (bit >> 3)] >> (8 - depth - (bit & 7))) & max;
      out[y * width + x] = Math.round((v * 255) / max);
    }
  }
  return out;
}

/**
 * Resizes an HWC uint8 image with bilinear interpolation at half-pixel
 * centres (as `tf.image.resizeBilinear(..., halfPixelCenters=true)`); returns
 * the input's data unchanged when the size already matches.
 */
export function resizeBilinear(img: RgbImage, outH: number, outW: number): Uint8Array {
  const { width: w, height: h, data } = img;
  if (w === outW && h === outH) return data;
  const out = new Uint8Array(outH * outW * 3);
  for (let y = 0; y < outH; y++) {
    const sy = Math.min(Math.max(((y + 0.5) * h) / outH - 0.5, 0), h - 1);
    const y0 = Math.floor(sy), y1 = Math.min(y0 + 1, h - 1), fy = sy - y0;
    for (let x = 0; x < outW; x++) {
      const sx = Math.min(Math.max(((x + 0.5) * w) / outW - 0.5, 0), w - 1);
      const x0 = Math.floor(sx), x1 = Math.min(x0 + 1, w - 1), fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const top = data[(y0 * w + x0) * 3 + c] * (1 - fx) + data[(y0 * w + x1) * 3 + c] * fx;
        const bot = data[(y1 * w + x0) * 3 + c] * (1 - fx) + data[(y1 * w + x1) * 3 + c] * fx;
        out[(y * outW + x) * 3 + c] = Math.round(top * (1 - fy) + bot * fy);
      }
    }
  }
  return out;
}
