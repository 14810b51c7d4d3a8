"""SBNet (Carlisle-Liu/SBNet; sbnet.md 6-9): boundary maps, the SB stage (SEAM + boundary + smoothness),
its AffinityNet and the DeepLab-V2 retraining (kazuto1011's recipe)."""
from __future__ import annotations

from ..optim import OptimSpec, ScheduleSpec
from .base import Recipe, StageInput, Upstream, cams_input, crf_input

REPO = "Carlisle-Liu/SBNet@2f16c8a"
OPTIM = OptimSpec("poly_sgd", lr=0.01, weight_decay=5e-4)
QUIRKS = ("polyoptimizer_momentum",)

RECIPES = (
    Recipe(
        name="sbnet_boundary_maps_voc", method="SBNet", kind="sbnet_boundary", dataset="voc",
        load_as="sbnet_resnet38_voc", stage="prep",
        summary="21 x H x W semantic boundary maps VOC2012/sb_map/<id>.npy from label maps (source undocumented upstream)",
        data={"output": "sb_map", "width": 2},
        inputs=(StageInput("masks", "label maps <id>.png to take class boundaries from: pseudo masks (weak "
                                    "supervision, e.g. SEAM's) or SegmentationClassAug (pixel GT: extra supervision)",
                           producer="wsss-zoo pseudo-mask --pipeline ... --out DIR (weak), or R/SegmentationClassAug"),),
        upstream=Upstream("not in the repository: train_SB.py reads VOC2012/sb_map/<id>.npy", "-",
                          source=f"{REPO} voc12/data_BD.py"),
        notes="SBNet never says how sb_map was made; see training/README.md"),
    Recipe(
        name="sbnet_sb_voc", method="SBNet", kind="sbnet", dataset="voc", load_as="sbnet_resnet38_voc", stage="final",
        summary="SB stage: SEAM_BD ResNet-38, SEAM losses + 0.01 boundary BCE + edge-aware smoothness, 100 epochs",
        init=("resnet38_imagenet",), batch_size=8, epochs=100, optim=OPTIM, data={"resize_long": (448, 768), "crop": 448},
        loss={"bd_weight": 0.01}, seed=100000, quirks=QUIRKS,
        inputs=(StageInput("boundary", "21 x H x W boundary maps <id>.npy", default="out:sb_map",
                           producer="python training/run.py sbnet_boundary_maps_voc"),),
        upstream=Upstream("python train_SB.py --voc12_root R --weights ilsvrc-cls_rna-a1_cls1000_ep-0001.params",
                          "4 x 12 GB (README, DataParallel)", source=f"{REPO} train_SB.py, README"),
        notes="upstream saves every epoch and does not say which one was released; we keep the last. "
              "Seeds: torch/random 100000 as upstream. Needs OpenCV (Canny inside the network)."),
    Recipe(
        name="sbnet_crf_labels_voc", method="SBNet", kind="crf_labels", dataset="voc", load_as="sbnet_resnet38_voc",
        stage="prep", summary="la/ha CRF labels of the SB CAMs (infer_SB.py --out_crf, alphas 4 / 24)",
        data={"alphas": (4, 24), "output": "crf_sb"},
        inputs=(cams_input("cam_sb", "sbnet_resnet38_voc", "sbnet_resnet38_voc"),),
        upstream=Upstream("python infer_SB.py --out_crf crf", "1", source=f"{REPO} infer_SB.py")),
    Recipe(
        name="sbnet_aff_voc", method="SBNet", kind="affinity", dataset="voc", load_as="sbnet_aff_resnet38_voc",
        stage="final", summary="AffinityNet (SEAM variant) on the SB la/ha CRF labels",
        init=("resnet38_imagenet",), batch_size=8, epochs=8, optim=OPTIM, data={"crop": 448},
        quirks=QUIRKS + ("aff_pad_black",),
        inputs=(crf_input("crf_la", 4, "crf_sb_la", "sbnet_crf_labels_voc"),
                crf_input("crf_ha", 24, "crf_sb_ha", "sbnet_crf_labels_voc")),
        upstream=Upstream("python train_aff.py --voc12_root R --weights ilsvrc-cls_rna-a1_cls1000_ep-0001.params "
                          "--la_crf_dir crf_4.0 --ha_crf_dir crf_24.0", "4 x 12 GB (README)",
                          source=f"{REPO} train_aff.py")),
    Recipe(
        name="sbnet_deeplabv2_voc", method="SBNet", kind="deeplabv2", dataset="voc",
        load_as="sbnet_deeplabv2_resnet101_voc", stage="final",
        summary="DeepLab-V2 ResNet-101 MSC on the SBNet pseudo labels (kazuto1011 configs/voc12.yaml)",
        init=("deeplabv1_resnet101_coco",), batch_size=5, accumulate=2, iterations=20000,
        optim=OptimSpec("sgd", lr=2.5e-4, weight_decay=5e-4, momentum=0.9),
        schedule=ScheduleSpec("poly_every", power=0.9, every=10),
        data={"crop": 321, "scales": (0.5, 0.75, 1.0, 1.25, 1.5)}, loss={"drs_extra": False},
        inputs=(StageInput("labels", "SBNet pseudo labels <id>.png on train_aug", default="out:sem_seg_sb",
                           producer="wsss-zoo pseudo-mask --pipeline sbnet_voc --weights cam=OUT/sbnet_resnet38_voc.pth "
                                    "--weights aff=OUT/sbnet_aff_resnet38_voc.pth --voc-root R --split train_aug "
                                    "--out OUT/sem_seg_sb"),),
        upstream=Upstream("python main.py train --config-path configs/voc12.yaml (kazuto1011, labels replaced)",
                          "not reported", source="kazuto1011/deeplab-pytorch@4219467 configs/voc12.yaml; SBNet README")),
)
