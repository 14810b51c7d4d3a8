"""Class lists, COCO id mapping and colour palettes of the datasets the methods use.

Segmentation ids: 0 is background, 1..C the object classes, 255 ignore. Classification indices
(the multi-hot label vectors of every upstream repo) are segmentation id - 1.
VOC order is PSA/IRN's ``CAT_LIST``; COCO order is EPS ``metadata/coco/labels.txt`` (contiguous
1..80 in ascending COCO category id), see foundations.md section 10.4.
"""
from __future__ import annotations

import numpy as np

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)

COCO_CLASSES = (
    "background", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
    "boat", "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)

#: COCO category id (1..90, with gaps) of each contiguous class 1..80.
COCO_CATEGORY_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
    31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90,
)

CLASS_LISTS = {"voc": VOC_CLASSES, "coco": COCO_CLASSES}

#: Common alternative spellings accepted in label names.
CLASS_ALIASES = {
    "voc": {"airplane": "aeroplane", "plane": "aeroplane", "motorcycle": "motorbike",
            "dining table": "diningtable", "table": "diningtable", "potted plant": "pottedplant",
            "plant": "pottedplant", "tv": "tvmonitor", "monitor": "tvmonitor", "tv monitor": "tvmonitor",
            "couch": "sofa", "bike": "bicycle"},
    "coco": {"aeroplane": "airplane", "motorbike": "motorcycle", "diningtable": "dining table",
             "pottedplant": "potted plant", "tvmonitor": "tv", "sofa": "couch", "hair dryer": "hair drier",
             "cellphone": "cell phone"},
}


def coco_category_to_contiguous() -> dict:
    """Map COCO category id -> contiguous segmentation id 1..80."""
    return {cat: i + 1 for i, cat in enumerate(COCO_CATEGORY_IDS)}


def pascal_palette(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map (bit-interleaved), as an (n, 3) uint8 array.

    This is the palette of VOC's SegmentationClass PNGs; COCO masks reuse it for ids 0..80.
    Index 255 is (224, 224, 192), the VOC 'void' colour.
    """
    pal = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


def num_classes(dataset: str) -> int:
    """Number of object classes (background excluded): 20 for VOC, 80 for COCO."""
    return len(CLASS_LISTS[dataset]) - 1
