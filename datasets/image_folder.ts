/**
 * A folder of images, one subfolder per class (torchvision ImageFolder
 * layout), and Tiny-ImageNet in its standard `tiny-imagenet-200` layout.
 * @module
 */
import { DatasetError } from "./errors.ts";
import { datasetRoot, exists, listDir, readBytes } from "./files.ts";
import {
  imageAugmentation,
  IMAGENET_NORMALIZATION,
  type ImageRef,
  interleaveByClass,
  isImageFile,
  readImages,
} from "./image_list.ts";
import { InMemoryDataset } from "./in_memory.ts";
import { augmentationFor, limitOf, type LoadOptions } from "./options.ts";

const FOLDER_LAYOUT = "root/train/<class>/*.png|jpg and root/test/<class>/ (or root/val/<class>/)";

/**
 * An image folder at `dataDir`: `train/<class>/*.png|jpg|jpeg` and
 * `test/<class>/...` (or `val/<class>/...`). Classes are the train subfolders
 * sorted by name (label = index); images are decoded to RGB and resized
 * bilinearly to `imageSize`x`imageSize` (default 224). Examples are stored
 * round-robin across classes, so `limitTrain`/`limitTest` keep a balanced
 * subset (and only those files are decoded). ImageNet normalisation;
 * augmentation pads imageSize/8 and flips.
 */
export async function loadImageFolder(opts: LoadOptions = {}): Promise<InMemoryDataset> {
  const root = opts.dataDir;
  if (!root) {
    throw new DatasetError(`image-folder needs --data_dir with the layout ${FOLDER_LAYOUT}`);
  }
  const size = opts.imageSize ?? 224;
  if (!Number.isInteger(size) || size < 1) {
    throw new DatasetError(`image size must be a positive integer, got ${size}`);
  }
  const classes = await listDir(`${root}/train`, "dirs", `the layout ${FOLDER_LAYOUT}`);
  if (classes.length === 0) {
    throw new DatasetError(`${root}/train has no class subfolders; expected ${FOLDER_LAYOUT}`);
  }
  const testDir = (await exists(`${root}/test`)) ? `${root}/test` : `${root}/val`;
  const trainRefs = await folderRefs(`${root}/train`, classes, true);
  const testRefs = await folderRefs(testDir, classes, false);
  return new InMemoryDataset({
    name: "image-folder",
    inputShape: [size, size, 3],
    numClasses: classes.length,
    train: await readImages(trainRefs, size, limitOf(opts.limitTrain)),
    test: await readImages(testRefs, size, limitOf(opts.limitTest)),
    normalization: IMAGENET_NORMALIZATION,
    augmentation: augmentationFor(imageAugmentation(size), opts),
    classNames: classes,
  });
}

async function folderRefs(
  dir: string,
  classes: string[],
  requireAll: boolean,
): Promise<ImageRef[]> {
  const present = await listDir(dir, "dirs", `the layout ${FOLDER_LAYOUT}`);
  for (const name of present) {
    if (!classes.includes(name)) {
      throw new DatasetError(`${dir}/${name}: class not among the train classes (${classes})`);
    }
  }
  const refs: ImageRef[] = [];
  for (const [label, name] of classes.entries()) {
    if (!present.includes(name)) continue;
    const files = (await listDir(`${dir}/${name}`, "files", "image files")).filter(isImageFile);
    if (requireAll && files.length === 0) {
      throw new DatasetError(`${dir}/${name} has no .png/.jpg/.jpeg images`);
    }
    for (const f of files) refs.push({ path: `${dir}/${name}/${f}`, label });
  }
  return interleaveByClass(refs);
}

const TINY_URL = "download http://cs231n.stanford.edu/tiny-imagenet-200.zip, unzip it, and pass " +
  "--data_dir";
const TINY_LAYOUT = "the tiny-imagenet-200 layout (wnids.txt, train/<wnid>/images/*.JPEG, " +
  "val/images/, val/val_annotations.txt)";

/**
 * Tiny-ImageNet from `dataDir` (or `dataDir/tiny-imagenet-200`): classes are
 * the wnids of `wnids.txt` sorted by name; train is
 * `train/<wnid>/images/*.JPEG`, test is the labelled validation set
 * (`val/images/` with `val/val_annotations.txt`). 64x64x3, stored
 * round-robin across classes (limits keep balanced subsets); ImageNet
 * normalisation; augmentation pads 8 px and flips.
 */
export async function loadTinyImagenet(opts: LoadOptions = {}): Promise<InMemoryDataset> {
  if (!opts.dataDir) throw new DatasetError(`tiny-imagenet needs a data directory: ${TINY_URL}`);
  const root = await datasetRoot(opts.dataDir, "tiny-imagenet-200", "wnids.txt");
  const expected = `${TINY_LAYOUT}; ${TINY_URL}`;
  const text = (path: string) => readBytes(path, expected).then((b) => new TextDecoder().decode(b));
  const wnids = (await text(`${root}/wnids.txt`)).split(/\r?\n/).map((s) => s.trim())
    .filter((s) => s.length > 0).sort();
  if (wnids.length === 0 || new Set(wnids).size !== wnids.length) {
    throw new DatasetError(`${root}/wnids.txt: expected one distinct wnid per line`);
  }
  const label = new Map(wnids.map((w, i) => [w, i]));
  const trainRefs: ImageRef[] = [];
  for (const [i, wnid] of wnids.entries()) {
    const dir = `${root}/train/${wnid}/images`;
    const files = (await listDir(dir, "files", expected)).filter(isImageFile);
    for (const f of files) trainRefs.push({ path: `${dir}/${f}`, label: i });
  }
  const annotations = `${root}/val/val_annotations.txt`;
  const testRefs = (await text(annotations)).split(/\r?\n/).filter((l) => l.trim()).map(
    (line, i) => {
      const [file, wnid] = line.split("\t");
      const l = label.get(wnid);
      if (l === undefined || !file) {
        throw new DatasetError(
          `${annotations} line ${
            i + 1
          }: expected "<file>\\t<wnid>\\t..." with a wnid from wnids.txt`,
        );
      }
      return { path: `${root}/val/images/${file}`, label: l };
    },
  );
  return new InMemoryDataset({
    name: "tiny-imagenet",
    inputShape: [64, 64, 3],
    numClasses: wnids.length,
    train: await readImages(interleaveByClass(trainRefs), 64, limitOf(opts.limitTrain)),
    test: await readImages(interleaveByClass(testRefs), 64, limitOf(opts.limitTest)),
    normalization: IMAGENET_NORMALIZATION,
    augmentation: augmentationFor(imageAugmentation(64), opts),
    classNames: wnids,
  });
}
