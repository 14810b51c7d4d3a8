"""Render ``examples/cyclist.jpg``: a synthetic 500x375 outdoor scene with a person on a bicycle.

The repository ships no dataset image (VOC/COCO photos have their own terms), so the example is
drawn here with PIL and numpy: sky, hills, a tree, a road, and a cyclist. Its image-level labels
are ``bicycle`` and ``person`` (VOC ids 2 and 15; COCO ids 2 and 1). Since the scene is drawn, its
ground truth is known: ``cyclist_labels.png`` is the label map of the same drawing.

    python examples/make_example.py   # rewrites cyclist.jpg and cyclist_labels.png (deterministic)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

WIDTH, HEIGHT = 500, 375
SUPERSAMPLE = 3
HORIZON = 205


def _gradient(h: int, w: int, top, bottom) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    return (np.asarray(top, float) * (1 - t) + np.asarray(bottom, float) * t) * np.ones((1, w, 1))


def _background(rng: np.random.Generator) -> Image.Image:
    """Sky, clouds, hills and grass, at final resolution."""
    sky = _gradient(HORIZON, WIDTH, (96, 150, 214), (196, 218, 238))
    grass = _gradient(HEIGHT - HORIZON, WIDTH, (112, 150, 74), (66, 108, 40))
    grass += rng.normal(0, 9, grass.shape[:2])[:, :, None] * np.array([0.6, 1.0, 0.5])
    canvas = Image.fromarray(np.clip(np.concatenate([sky, grass]), 0, 255).astype(np.uint8))
    clouds = Image.new("L", canvas.size, 0)
    draw = ImageDraw.Draw(clouds)
    for cx, cy, rx, ry in ((90, 60, 70, 18), (130, 50, 45, 16), (360, 85, 90, 15), (420, 72, 50, 14)):
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=170)
    canvas.paste((250, 250, 252), mask=clouds.filter(ImageFilter.GaussianBlur(9)))
    hills = Image.new("L", canvas.size, 0)
    xs = np.arange(WIDTH)
    ridge = HORIZON - 28 - 14 * np.sin(xs / 57.0) - 9 * np.sin(xs / 23.0 + 1.3)
    ImageDraw.Draw(hills).polygon([(0, HORIZON + 2)] + list(zip(xs.tolist(), ridge.tolist())) + [(WIDTH, HORIZON + 2)],
                                  fill=255)
    canvas.paste((104, 134, 128), mask=hills.filter(ImageFilter.GaussianBlur(1.5)))
    return canvas


# the cyclist's paint colours (RGB) by class: the drawing code below uses each for one class only
BICYCLE_PAINT = ((30, 30, 32), (170, 170, 176), (120, 120, 126), (196, 36, 42), (25, 25, 25), (60, 60, 60),
                 (70, 70, 74), (80, 80, 80))
PERSON_PAINT = ((30, 30, 30), (34, 34, 50), (44, 44, 62), (40, 92, 178), (226, 178, 142), (58, 40, 30), (20, 20, 20))


def _scene_layer(size) -> Image.Image:
    """Road, tree, shadow and the cyclist on a transparent layer, at final resolution (anti-aliased)."""
    return _scene_drawing(size).resize(size, Image.LANCZOS)


def _scene_drawing(size) -> Image.Image:
    """Road, tree, shadow and the cyclist, drawn SUPERSAMPLE times larger, without anti-aliasing."""
    s = SUPERSAMPLE
    layer = Image.new("RGBA", (size[0] * s, size[1] * s), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)

    def pts(*xy):
        return [(x * s, y * s) for x, y in xy]

    def line(a, b, width, colour):
        d.line(pts(a, b), fill=colour, width=int(width * s))
        for x, y in (a, b):
            r = width / 2
            d.ellipse(pts((x - r, y - r), (x + r, y + r)), fill=colour)

    def disc(c, r, colour):
        d.ellipse(pts((c[0] - r, c[1] - r), (c[0] + r, c[1] + r)), fill=colour)

    d.polygon(pts((120, 375), (440, 375), (290, HORIZON), (262, HORIZON)), fill=(150, 138, 118, 255))
    line((56, 250), (58, 150), 12, (92, 64, 40, 255))  # tree
    for c, r in (((58, 120), 42), ((30, 145), 30), ((90, 142), 32), ((60, 92), 28)):
        disc(c, r, (54, 96, 46, 255))
    d.ellipse(pts((190, 332), (395, 352)), fill=(40, 40, 30, 110))  # shadow

    rear, front, crank, seat = (230, 300), (345, 300), (285, 305), (263, 238)
    head_top, head_bot = (328, 236), (333, 256)
    tyre, frame, skin = (30, 30, 32, 255), (196, 36, 42, 255), (226, 178, 142, 255)
    shirt, trousers = (40, 92, 178, 255), (44, 44, 62, 255)
    for hub in (rear, front):
        d.ellipse(pts((hub[0] - 42, hub[1] - 42), (hub[0] + 42, hub[1] + 42)), outline=tyre, width=6 * s)
        for a in np.linspace(0, np.pi, 9)[:-1]:
            dx, dy = 38 * np.cos(a), 38 * np.sin(a)
            d.line(pts((hub[0] - dx, hub[1] - dy), (hub[0] + dx, hub[1] + dy)), fill=(170, 170, 176, 255), width=s)
        disc(hub, 4, (120, 120, 126, 255))
    line((263, 228), (277, 230), 4, (30, 30, 30, 255))  # far leg drawn behind the frame
    line((265, 228), (290, 244), 12, (34, 34, 50, 255))
    line((290, 244), (271, 293), 11, (34, 34, 50, 255))
    for a, b in ((rear, crank), (rear, seat), (crank, seat), (seat, head_top), (crank, head_bot), (head_top, head_bot),
                 (head_bot, front)):
        line(a, b, 5, frame)
    line((256, 233), (274, 233), 5, (25, 25, 25, 255))  # saddle
    line(head_top, (334, 219), 4, (60, 60, 60, 255))
    line((334, 219), (322, 215), 4, (60, 60, 60, 255))  # handlebar
    disc(crank, 7, (70, 70, 74, 255))
    line(crank, (299, 316), 3, (80, 80, 80, 255))
    line((265, 226), (302, 254), 13, trousers)  # near leg
    line((302, 254), (299, 314), 12, trousers)
    line((296, 316), (309, 316), 5, (20, 20, 20, 255))
    line((266, 224), (300, 170), 24, shirt)  # torso
    line((300, 172), (318, 196), 9, shirt)
    line((318, 196), (324, 214), 8, skin)  # forearm
    disc((313, 150), 14, skin)
    d.chord(pts((297, 133), (329, 163)), 180, 360, fill=(58, 40, 30, 255))  # hair
    return layer


def render(seed: int = 7) -> Image.Image:
    rng = np.random.default_rng(seed)
    canvas = _background(rng)
    layer = _scene_layer(canvas.size)
    canvas.paste(layer, mask=layer.split()[3])
    arr = np.asarray(canvas.filter(ImageFilter.GaussianBlur(0.4)), dtype=np.float64)
    arr += rng.normal(0, 3.0, arr.shape)  # sensor-like noise
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def render_labels() -> np.ndarray:
    """The drawing's VOC label map [375, 500] uint8: 2 where bicycle paint covers most of a pixel's
    supersampled block, 15 for the rider, 0 elsewhere, and 255 (ignore) where a block is mixed -- the
    edge pixels, as VOC marks its object borders void."""
    drawing = np.asarray(_scene_drawing((WIDTH, HEIGHT)).convert("RGBA"))
    opaque = drawing[..., 3] == 255
    votes = []
    for paints in (BICYCLE_PAINT, PERSON_PAINT):
        hit = np.zeros(opaque.shape, bool)
        for colour in paints:
            hit |= (drawing[..., :3] == colour).all(axis=-1)
        votes.append((hit & opaque).reshape(HEIGHT, SUPERSAMPLE, WIDTH, SUPERSAMPLE).sum(axis=(1, 3)))
    bicycle, person = votes
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    labels[(bicycle + person) > 0] = 255
    majority = SUPERSAMPLE * SUPERSAMPLE // 2 + 1
    labels[bicycle >= majority] = 2
    labels[person >= majority] = 15
    return labels


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    out = here / "cyclist.jpg"
    render().save(out, quality=88, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} kB)")
    from wsss_zoo.data.io import write_label_png  # a VOC palette PNG, like VOC's SegmentationClass files

    write_label_png(here / "cyclist_labels.png", render_labels())
    print(f"wrote {here / 'cyclist_labels.png'}")
