"""DRS (qjadud1994/DRS ``run.sh``; drs.md 7): classifier -> localisation maps -> refinement network ->
pseudo labels (+ saliency) -> DeepLab-V2 / V3+."""
from __future__ import annotations

from ..optim import OptimSpec, ScheduleSpec
from .base import Recipe, StageInput, Upstream

REPO = "qjadud1994/DRS@9afa7f1"
PSEUDO_LABELS = StageInput(
    "labels", "DRS pseudo labels <id>.png (0 bg, 1..20, 255 ignore) for train_aug",
    default="root:refined_pseudo_segmentation_labels",
    producer="wsss-zoo pseudo-mask --pipeline drs_voc --weights cls=OUT/drs_vgg16_voc.pth "
             "--weights refine=OUT/drs_refine_vgg16_voc.pth --voc-root R --split train_aug "
             "--out R/refined_pseudo_segmentation_labels (or the published refined_pseudo_segmentation_labels.zip)")

RECIPES = (
    Recipe(
        name="drs_cls_voc", method="DRS", kind="classify", dataset="voc", load_as="drs_vgg16_voc", stage="final",
        summary="VGG-16 classifier with learnable DRS modules, image labels of train_aug",
        init=("vgg16_imagenet",), batch_size=10, epochs=15, drop_last=False,
        optim=OptimSpec("sgd", lr=1e-3, weight_decay=5e-4, momentum=0.9, nesterov=True),
        schedule=ScheduleSpec("step", milestones=(5, 10), gamma=0.1),
        data={"pipeline": "drs", "resize": 384, "crop": 320}, model_kwargs={"delta": 0.0},
        upstream=Upstream("python scripts/train_cls.py --img_dir R/VOC2012 --lr 0.001 --epoch 15 --decay_points '5,10' "
                          "--delta 0 --logdir logs/DRS_learnable --save_folder checkpoints/DRS_learnable",
                          "2 (DataParallel, 5 images per GPU)", source=f"{REPO} run.sh, scripts/train_cls.py"),
        expected="upstream keeps the epoch with the best pseudo-label mIoU on VOC train (pixel GT); we keep epoch 15. "
                 "The refined labels of the published pipeline reach DeepLab-V2 69.4 / V3+ 70.4 val mIoU.",
        notes="lr x1/x2/x10/x20 for trunk weights/biases/head+DRS-controller weights/head biases (the 'fc' substring "
              "puts the DRS controllers at 10x); wd 5e-4 on every group; Nesterov."),
    Recipe(
        name="drs_refine_voc", method="DRS", kind="drs_refine", dataset="voc", load_as="drs_refine_vgg16_voc",
        stage="final", summary="refinement network regressing the classifier's arg-max-masked localisation maps (MSE)",
        init=("vgg16_imagenet",), batch_size=10, epochs=30, drop_last=False,
        optim=OptimSpec("adam", lr=1e-4, weight_decay=0.0), schedule=ScheduleSpec("step", milestones=(10, 20), gamma=0.1),
        data={"size": 320},
        inputs=(StageInput("loc_maps", "uint8 (20, 320, 320) localisation maps <id>.npy of the classifier",
                           default="out:localization_maps", producer="python training/run.py drs_localization_maps_voc"),),
        upstream=Upstream("python scripts/train_refine.py --img_dir R/VOC2012 --lr 0.0001 --epoch 30 --decay_points "
                          "'10,20' --logdir logs/Refine_DRS_learnable --save_folder checkpoints/Refine_DRS_learnable",
                          "2 (DataParallel, 5 images per GPU)", source=f"{REPO} run.sh, scripts/train_refine.py"),
        expected="upstream keeps the best epoch by pseudo-label mIoU on VOC train; we keep epoch 30"),
    Recipe(
        name="drs_localization_maps_voc", method="DRS", kind="loc_maps", dataset="voc", load_as="drs_vgg16_voc",
        stage="prep", summary="localisation maps of the DRS classifier for the refinement network "
                              "(localization_map_gen.py: 3-scale max, 320x320 frame, uint8)",
        data={"output": "localization_maps"},
        upstream=Upstream("python scripts/localization_map_gen.py --checkpoint checkpoints/DRS_learnable/best.pth",
                          "1", source=f"{REPO} run.sh"),
        notes="needs --weights OUT/drs_vgg16_voc.pth"),
    Recipe(
        name="drs_deeplabv2_voc", method="DRS", kind="deeplabv2", dataset="voc", load_as="drs_deeplabv2_resnet101_voc",
        stage="final", summary="DeepLab-V2 ResNet-101 MSC on the DRS pseudo labels, with DRS's class-masked argmax term",
        init=("deeplabv1_resnet101_coco",), batch_size=10, accumulate=2, iterations=10000,
        optim=OptimSpec("sgd", lr=2.5e-4, weight_decay=5e-4, momentum=0.9),
        schedule=ScheduleSpec("poly_every", power=0.9, every=10),
        data={"crop": 321, "scales": (0.5, 0.75, 1.0, 1.25, 1.5)}, loss={"drs_extra": True}, seed=1,
        inputs=(PSEUDO_LABELS,),
        upstream=Upstream("python train.py --config_path configs/voc12_2gpu.yaml --gt_path "
                          "refined_pseudo_segmentation_labels --log_dir Deeplabv2_pseudo_segmentation_labels_2gpu",
                          "2 (DataParallel, 10 images x ITER_SIZE 2)", source=f"{REPO} DeepLab-V2-PyTorch/train.sh"),
        expected="69.4 val mIoU (70.4 with CRF) for the published weights (MSC test, full images)",
        notes="upstream keeps the best checkpoint by val mIoU every 100 iterations; we keep the last. "
              "The split name train_cls in the config is ambiguous (1,464 or 10,582 ids); train_aug is used."),
    Recipe(
        name="drs_deeplabv3plus_voc", method="DRS", kind="deeplabv3plus", dataset="voc",
        load_as="drs_deeplabv3plus_resnet101_voc", stage="final",
        summary="DeepLab-V3+ ResNet-101 (OS16) on the DRS pseudo labels",
        init=("resnet101_imagenet",), batch_size=32, iterations=20000, drop_last=False, amp=True,
        optim=OptimSpec("sgd", lr=0.05, weight_decay=1e-4, momentum=0.9),
        schedule=ScheduleSpec("poly_min", power=0.9, min_lr=1e-6),
        data={"crop": 513, "scale": (0.5, 2.0)}, quirks=("label_pad_background",), seed=2, inputs=(PSEUDO_LABELS,),
        upstream=Upstream("python main.py --data_root R/VOC2012 --model deeplabv3plus_resnet101 --gpu_id 0,1 --amp "
                          "--total_itrs 20000 --batch_size 32 --lr 0.05 --crop_val", "2 (DataParallel, plain BN)",
                          source=f"{REPO} DeepLabV3Plus-Pytorch/run.sh"),
        expected="70.4 val mIoU (71.0 with CRF) on 513 centre crops for the published weights",
        notes="upstream keeps the best checkpoint by val mIoU (crop_val) every 100 iterations; we keep the last. "
              "BN is not synchronised upstream (DataParallel); --sync-bn is available."),
)
