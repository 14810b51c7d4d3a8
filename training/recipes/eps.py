"""EPS (halbielee/EPS ``script/*.sh`` and the released logs; eps.md 6): Base classifiers and EPS on VOC and COCO."""
from __future__ import annotations

from ..optim import OptimSpec
from .base import Recipe, StageInput, Upstream

REPO = "halbielee/EPS@0c2cdd0"
OPTIM = OptimSpec("poly_sgd", lr=0.01, weight_decay=5e-4)
VOC = {"resize_long": (256, 512), "crop": 448}
COCO = {"resize_long": (256, 448), "crop": 321, "coco_layout": "eps"}
SALIENCY = StageInput("saliency", "saliency maps <id>.png (0..255 grey); the EPS logs used PFAN maps "
                                  "(SALImages/SALImages_pyramid)", default="",
                      producer="shipped with the EPS README (SALImages); default: <root>/saliency_map or "
                               "<root>/SALImages")
QUIRKS = ("polyoptimizer_momentum",)
VOC_HOURS = "about 3.8-3.9 h (Rem at iteration 100 of the released logs)"
COCO_HOURS = "about 17 h for the 76,950 decaying steps, about 2.4 days for all 256,500 (inferred from the logs)"

RECIPES = (
    Recipe(
        name="eps_base_voc", method="EPS", kind="classify", dataset="voc", load_as="eps_base_resnet38_voc",
        stage="final", summary="ResNet-38 classifier (Base, no saliency) on train_aug",
        init=("resnet38_imagenet",), batch_size=8, iterations=20000, optim=OPTIM, data=dict(VOC, pipeline="psa"),
        quirks=QUIRKS,
        upstream=Upstream("bash script/voc12_cls.sh (main.py --network network.resnet38_cls --max_iters 20000 "
                          "--batch_size 8 --crop_size 448)", "2 (DataParallel)", VOC_HOURS,
                          f"{REPO} script/voc12_cls.sh, log"),
        expected="log: loss 0.746 at iteration 0, about 0.053 at the end"),
    Recipe(
        name="eps_voc", method="EPS", kind="eps", dataset="voc", load_as="eps_resnet38_voc", stage="final",
        summary="EPS: ResNet-38 with a background channel, classification + saliency loss (tau 0.4, lambda 0.5)",
        init=("resnet38_imagenet",), batch_size=8, iterations=20000, optim=OPTIM, data=VOC,
        loss={"tau": 0.4, "lam": 0.5}, inputs=(SALIENCY,), quirks=QUIRKS,
        upstream=Upstream("bash script/voc12_eps.sh (main.py --network network.resnet38_eps --tau 0.4 --lam 0.5 "
                          "--max_iters 20000 --batch_size 8)", "2 (DataParallel)", VOC_HOURS,
                          f"{REPO} script/voc12_eps.sh, log"),
        expected="log: cls 0.865 / sal 0.208 at iteration 0, about 0.052 / 0.035 at the end; README train mIoU 69.22"),
    Recipe(
        name="eps_base_coco", method="EPS", kind="classify", dataset="coco", load_as="eps_base_resnet38_coco",
        stage="final", summary="ResNet-38 classifier (Base) on COCO train2014 (80 classes)",
        init=("resnet38_imagenet",), batch_size=16, iterations=256500, short_decay=(15, 16), optim=OPTIM,
        data=dict(COCO, pipeline="psa"), split="train", quirks=QUIRKS + ("short_poly_decay",),
        upstream=Upstream("bash script/coco_cls.sh (main.py --dataset coco --max_iters 256500 --batch_size 16 "
                          "--crop_size 321 --resize_size 256 448)", "2 (DataParallel)", COCO_HOURS,
                          f"{REPO} script/coco_cls.sh, log"),
        expected="log: loss 0.851 at iteration 0, about 0.059 at the end",
        notes="the released COCO logs decay the lr over 76,950 steps (15 epochs) then idle at ~4e-7 "
              "(quirk short_poly_decay); HEAD main.py would decay over all 256,500"),
    Recipe(
        name="eps_coco", method="EPS", kind="eps", dataset="coco", load_as="eps_resnet38_coco", stage="final",
        summary="EPS on COCO train2014 (tau 0.4, lambda 0.9)",
        init=("resnet38_imagenet",), batch_size=16, iterations=256500, short_decay=(15, 16), optim=OPTIM, data=COCO,
        split="train", loss={"tau": 0.4, "lam": 0.9}, inputs=(SALIENCY,), quirks=QUIRKS + ("short_poly_decay",),
        upstream=Upstream("bash script/coco_eps.sh (main.py --dataset coco --network network.resnet38_eps --tau 0.4 "
                          "--lam 0.9 --max_iters 256500 --batch_size 16)", "2 (DataParallel)", COCO_HOURS,
                          f"{REPO} script/coco_eps.sh, log"),
        expected="log: cls 0.759 / sal 0.138 at iteration 0, about 0.061 / 0.042 at the end"),
)
