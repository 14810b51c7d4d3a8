#!/usr/bin/env python
"""Make the example report of docs/report.md from GENERATED data (no real VOC image, no trained network).

    python docs/report_example.py --out /tmp/report_example            # dataset, CAMs, report.html
    python docs/report_example.py --out /tmp/report_example --png docs/report.png   # + screenshot (Chromium)

The dataset is a VOC-layout tree of coloured shapes (each shape type stands for one VOC class) on
textured backgrounds, with VOC-style masks (a 255 band around each object). The "predictions" are
stand-in CAMs: for each image-level label, a blurred copy of that class's mask whose strength falls
off away from one random peak inside the object, times smooth noise, like the partial activations of a
real CAM method. They are evaluated with a background-threshold sweep, so the report shows every
section (sweep curve included). Nothing here comes from a trained network or from real images.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from wsss_zoo.classes import VOC_CLASSES  # noqa: E402
from wsss_zoo.data import open_dataset  # noqa: E402
from wsss_zoo.data.io import label_image, write_cam_npy  # noqa: E402
from wsss_zoo.evaluate import evaluate_folder  # noqa: E402

#: shape type -> (VOC class, base colour)
SHAPES = {"disc": ("cat", (214, 120, 40)), "box": ("tvmonitor", (60, 90, 200)), "triangle": ("boat", (40, 170, 90)),
          "bar": ("train", (180, 50, 160)), "ring": ("bicycle", (225, 200, 40)), "blob": ("sheep", (235, 235, 225))}
H, W = 150, 200


def _texture(rng) -> np.ndarray:
    """A smooth random background: low-frequency colour noise plus fine grain."""
    small = rng.integers(40, 200, size=(6, 8, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(small).resize((W, H), Image.BICUBIC), dtype=np.float32)
    grain = rng.normal(0, 14, size=(H, W, 1))
    return np.clip(base + grain, 0, 255).astype(np.uint8)


def _draw(kind: str, box, draw: ImageDraw.ImageDraw, fill) -> None:
    x0, y0, x1, y1 = box
    if kind == "disc":
        draw.ellipse(box, fill=fill)
    elif kind == "box":
        draw.rectangle(box, fill=fill)
    elif kind == "triangle":
        draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) // 2, y0)], fill=fill)
    elif kind == "bar":
        draw.rectangle((x0, (y0 + y1) // 2 - 9, x1, (y0 + y1) // 2 + 9), fill=fill)
    elif kind == "ring":
        draw.ellipse(box, fill=fill)
        draw.ellipse((x0 + 12, y0 + 12, x1 - 12, y1 - 12), fill=0 if isinstance(fill, int) else None)
    else:
        draw.ellipse((x0, y0 + 8, x1 - 12, y1), fill=fill)
        draw.ellipse((x0 + 14, y0, x1, y1 - 10), fill=fill)


def make_image(rng):
    """(RGB image, label mask with 255 borders, class ids) of 1-3 shapes."""
    image = Image.fromarray(_texture(rng))
    mask = np.zeros((H, W), np.uint8)
    kinds = rng.choice(list(SHAPES), size=int(rng.integers(1, 4)), replace=False)
    for kind in kinds:
        name, colour = SHAPES[kind]
        cls = VOC_CLASSES.index(name)
        w, h = int(rng.integers(50, 90)), int(rng.integers(45, 80))
        x0 = int(rng.integers(4, W - w - 4))
        y0 = int(rng.integers(4, H - h - 4))
        box = (x0, y0, x0 + w, y0 + h)
        layer = Image.new("L", (W, H), 0)
        _draw(kind, box, ImageDraw.Draw(layer), 255)
        obj = np.asarray(layer) > 0
        shade = np.clip(np.asarray(colour, np.float32) + rng.normal(0, 18, size=(H, W, 3)), 0, 255)
        pixels = np.asarray(image).copy()
        pixels[obj] = shade[obj].astype(np.uint8)
        image = Image.fromarray(pixels)
        border = np.asarray(layer.filter(ImageFilter.MaxFilter(5))) > 0
        mask[border & ~obj] = 255
        mask[obj] = cls
    classes = sorted(set(np.unique(mask).tolist()) - {0, 255})
    return np.asarray(image), mask, classes


def stand_in_cams(mask: np.ndarray, classes, rng) -> np.ndarray:
    """Partial, blurry activations: per class, the blurred mask times a fall-off from one random peak."""
    yy, xx = np.mgrid[0:H, 0:W]
    maps = []
    for c in classes:
        obj = (mask == c).astype(np.float32)
        blurred = np.asarray(Image.fromarray((obj * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(9)),
                             np.float32) / 255
        ys, xs = np.nonzero(mask == c)
        i = int(rng.integers(0, len(ys)))
        reach = rng.uniform(14, 50)
        falloff = np.exp(-((yy - ys[i]) ** 2 + (xx - xs[i]) ** 2) / (2 * reach ** 2))
        noise = np.asarray(Image.fromarray(rng.integers(0, 255, (5, 7), dtype=np.uint8)).resize((W, H),
                           Image.BICUBIC), np.float32) / 255
        cam = blurred * (0.12 + 0.88 * falloff) + 0.3 * noise * blurred.max() + 0.08 * noise
        maps.append(cam / cam.max())
    return np.stack(maps).astype(np.float32)


def make_dataset(out: Path, n: int = 40, seed: int = 0) -> Path:
    """A VOC2012-layout tree of ``n`` generated images (split 'val') and their stand-in CAMs."""
    rng = np.random.default_rng(seed)
    voc = out / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation", "Annotations"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(n):
        image_id = f"gen_{i:04d}"
        image, mask, classes = make_image(rng)
        Image.fromarray(image).save(voc / "JPEGImages" / f"{image_id}.jpg", quality=92)
        label_image(mask).save(voc / "SegmentationClass" / f"{image_id}.png")
        objects = "".join(f"<object><name>{VOC_CLASSES[c]}</name><difficult>0</difficult></object>" for c in classes)
        (voc / "Annotations" / f"{image_id}.xml").write_text(
            f"<annotation><filename>{image_id}.jpg</filename>{objects}</annotation>")
        write_cam_npy(out / "cams" / f"{image_id}.npy", classes, stand_in_cams(mask, classes, rng), "irn")
        ids.append(image_id)
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(ids) + "\n")
    return voc


_OFFSETS = ("<script>document.title = JSON.stringify(Array.prototype.map.call(document.querySelectorAll("
            "'header, section'), function (e) { var r = e.getBoundingClientRect(); "
            "return [e.id || e.tagName, Math.round(r.top + scrollY), Math.round(r.bottom + scrollY)]; }));</script>")


def _chromium(browser: str, html: Path, *args: str) -> str:
    profile = html.parent / "chromium-profile"
    try:
        return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                               "--disable-background-networking",
                               "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                               f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args, html.as_uri()],
                              check=True, capture_output=True, text=True).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(html: Path, png: Path, width: int = 1280, sections=("header", "summary", "classes", "sweep"),
               gallery_height: int = 760) -> None:
    """A PNG of the report in headless Chromium: the listed sections and the top of the gallery, cut from
    one full-page screenshot and stacked, reduced to a palette so that it stays small."""
    import json
    import re

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("no Chromium on PATH for the screenshot (Debian: apt-get install chromium)")
    probe = html.with_name(".offsets.html")
    probe.write_text(html.read_text(encoding="utf-8").replace("</body>", _OFFSETS + "</body>"), encoding="utf-8")
    dom = _chromium(browser, probe, f"--window-size={width},1000", "--dump-dom")
    probe.unlink()
    boxes = {name: (top, bottom) for name, top, bottom in
             json.loads(re.search(r"<title>(.*?)</title>", dom).group(1).replace("&quot;", '"'))}
    boxes["HEADER"] = boxes.get("HEADER", (0, 0))
    full = png.with_name(f".{png.stem}.full.png")
    height = max(bottom for _, bottom in boxes.values()) + 40
    _chromium(browser, html, f"--window-size={width},{height}", f"--screenshot={full}")
    page = np.asarray(Image.open(full).convert("RGB"))
    full.unlink()
    gap = np.full((6, width, 3), 150, np.uint8)
    parts = []
    for name in sections:
        top, bottom = boxes[name.upper() if name == "header" else name]
        parts += [page[top:bottom + 12], gap]
    top = boxes["gallery"][0]
    parts.append(page[top:top + gallery_height])
    im = Image.fromarray(np.concatenate(parts))
    im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
    im.quantize(colors=160, method=Image.MEDIANCUT, dither=Image.NONE).save(png, optimize=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for the generated dataset, CAMs and report.html")
    p.add_argument("--png", help="also write a screenshot of the report here (needs Chromium)")
    p.add_argument("--images", type=int, default=40)
    args = p.parse_args(argv)
    out = Path(args.out)
    voc = make_dataset(out, args.images)
    dataset = open_dataset("voc", voc, "val", gt="SegmentationClass")
    html = out / "report.html"
    result = evaluate_folder(dataset, out / "cams", convention="standard", thresholds=[i / 20 for i in range(1, 19)],
                             report=html, report_images=4,
                             command="python docs/report_example.py (generated shapes, stand-in CAMs)")
    print(f"mIoU {result.miou:.2f} at background threshold {result.threshold:.2f}; report: {html}")
    if args.png:
        screenshot(html.resolve(), Path(args.png))
        print(f"screenshot: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
