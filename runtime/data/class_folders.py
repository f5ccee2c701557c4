"""A folder of samples, one subfolder per class (the layout of Keras's
`image_dataset_from_directory`): images for an image input, `.txt` files for a text input. The
subfolder names are the class names, sorted (class 0 is the first), as a CSV's label names are;
a file later read with the training data's names must use those. A folder without subfolders
holds samples with no class, for prediction.

    train/cat/001.png, train/dog/a.png, ...      image: uint8[3, 32, 32], label: the class
    reviews/pos/1.txt, reviews/neg/2.txt, ...    text: string[1]

The model has one input, and at most one class target (int64 with classes). Images are read
through Pillow (the `images` extra): converted to grayscale (1 channel) or RGB (3), resized to
the input's height and width (bilinear), as uint8 or as float32 0..255. Text files are read as
UTF-8, whole. Samples come in sorted order: by class, then by file name. A file that cannot be
read as its kind is refused naming it; a class folder without samples is refused too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nnc.runtime.data import cells
from nnc.runtime.data.dataset import DataError, Dataset, Field, shown_path, utf8_text
from nnc.runtime.data.reader import Reader
from nnc.runtime.errors import UsageError

IMAGES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
TEXTS = (".txt",)


def _pillow():
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise UsageError(
            "E550", "reading images needs Pillow, which is not installed", help="pip install 'nnc[images]'"
        ) from None
    return Image, UnidentifiedImageError


def _roles(folder: Path, fields: list[Field]) -> tuple[Field, Field | None]:
    """(the input, the class target or None) a class folder can give."""
    targets = [f for f in fields if f.classes is not None and not f.tokens and not f.shape]
    inputs = [f for f in fields if f not in targets]
    if len(inputs) != 1 or len(targets) > 1:
        raise DataError(
            "E414",
            f"a folder of samples gives one input and its class; the model needs "
            f"{', '.join(f'`{f.name}` ({f.type})' for f in fields)}",
            path=shown_path(folder),
            help="use a CSV or an .npz archive for several inputs",
        )
    x = inputs[0]
    image = x.dtype in ("uint8", "float32") and len(x.shape) == 3 and x.shape[0] in (1, 3)
    text = x.dtype == "string" and x.shape == (1,)
    if not (image or text):
        raise DataError(
            "E414",
            f"a folder holds images (an input uint8[C, H, W] or float32[C, H, W], C = 1 or 3) or "
            f"texts (string[1]); `{x.name}` is {x.type}",
            path=shown_path(folder),
        )
    return x, (targets[0] if targets else None)


def _samples(folder: Path, suffixes: tuple[str, ...]) -> tuple[list[str], list[tuple[Path, int]]]:
    """(class names, [(file, class index)]), sorted; a flat folder's files have class -1."""
    shown = shown_path(folder)
    try:
        entries = sorted(folder.iterdir())
    except OSError as e:
        raise DataError("E404", f"cannot read the folder `{folder.name}`: {e.strerror}", path=shown) from None
    classes = [p for p in entries if p.is_dir() and not p.name.startswith(".")]
    if not classes:
        files = [(p, -1) for p in entries if p.suffix.lower() in suffixes]
        return [], files
    out = []
    for index, sub in enumerate(classes):
        files = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            raise DataError(
                "E405",
                f"class folder `{sub.name}` holds no {'/'.join(suffixes)} files",
                path=shown_path(sub),
                help="every class needs samples; remove the folder, or add some",
            )
        out += [(p, index) for p in files]
    return [p.name for p in classes], out


class ClassFolders(Reader):
    kind = "a folder of samples"

    def names(self, folder: Path) -> list[str]:
        return [p.name for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]

    def check(self, folder: Path, fields: list[Field]) -> None:
        _roles(folder, fields)

    def class_names(self, folder: Path, fields: list[Field]) -> dict[str, list[str]]:
        """The class target's names: the subfolders, sorted."""
        _, target = _roles(folder, fields)
        return {target.name: self.names(folder)} if target is not None else {}

    def read(self, folder: Path, fields: list[Field], labels: dict[str, list[str]]) -> Dataset:
        x, target = _roles(folder, fields)
        suffixes = TEXTS if x.dtype == "string" else IMAGES
        names, samples = _samples(folder, suffixes)
        shown = shown_path(folder)
        if not samples:
            raise DataError("E405", f"`{folder.name}` holds no {'/'.join(suffixes)} files", path=shown)
        if target is not None and not names:
            raise DataError(
                "E414",
                f"`{folder.name}` has no class folders, and the model has the target `{target.name}`",
                path=shown,
                help="put each class's samples in a folder named after the class",
            )
        reader = _text if x.dtype == "string" else _image
        values = [reader(path, x) for path, _ in samples]
        arrays = {x.name: cells.tight(np.array(values)) if x.dtype == "string" else np.stack(values)}
        found = {}
        if target is not None:
            classes = np.array([index for _, index in samples], np.int64)
            known = list(labels.get(target.name) or names)
            if known != names:
                classes = np.array([_known(known, names[i], folder, target) for i in classes], np.int64)
            elif len(names) > target.classes:
                raise DataError(
                    "E409",
                    f"{len(names)} class folders, and the model has {target.classes} classes",
                    path=shown,
                    help=f"classes, sorted: {', '.join(names[:20])}",
                )
            arrays[target.name] = classes
            found[target.name] = known
        files = [str(path.relative_to(folder)) for path, _ in samples]
        return Dataset(arrays, len(samples), found, shown, ids=files)


def _known(known: list[str], name: str, folder: Path, target: Field) -> int:
    if name not in known:
        raise DataError(
            "E410",
            f"class folder `{name}` is not a class of the training data",
            path=shown_path(folder / name),
            help=f"classes: {', '.join(known[:20])}",
        )
    return known.index(name)


def _image(path: Path, x: Field) -> np.ndarray:
    Image, Unidentified = _pillow()
    channels, height, width = x.shape
    try:
        with Image.open(path) as image:
            image = _eight_bits(image, path)
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except (Unidentified, OSError, ValueError, SyntaxError) as e:
        raise DataError(
            "E404", f"`{path.name}` is not an image Pillow can read: {e}", path=shown_path(path)
        ) from None
    pixels = pixels.reshape(height, width, channels).transpose(2, 0, 1)
    return np.ascontiguousarray(pixels if x.dtype == "uint8" else pixels.astype(np.float32))


def _eight_bits(image, path: Path):
    """An image of 8 bits per channel. Pillow's convert() clips 16-bit grayscale (mode I;16) to
    255, which would turn every bright pixel white: it is scaled instead, 65535 -> 255. 32-bit
    integer and float pixels (modes I, F) have no one range to scale from: refused."""
    if image.mode.startswith("I;16"):
        from PIL import Image

        wide = np.asarray(image).astype(np.uint32)
        return Image.fromarray(((wide + 128) // 257).astype(np.uint8), "L")
    if image.mode in ("I", "F"):
        kind = "32-bit integer" if image.mode == "I" else "floating-point"
        raise DataError(
            "E404",
            f"`{path.name}` holds {kind} pixels (Pillow mode {image.mode}), which have no fixed range",
            path=shown_path(path),
            help="save the images with 8 or 16 bits per channel",
        )
    return image


def _text(path: Path, x: Field) -> np.ndarray:
    return np.array([utf8_text(path.read_bytes(), path, shown_path(path))])
