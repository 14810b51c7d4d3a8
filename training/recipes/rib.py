"""RIB (jbeomlee93/RIB; rib.md 5-7): the IRN-recipe classifiers RIB fine-tunes per image, RIB's CAMs over the
training set, their IR labels and the IRNet the pipeline needs (RIB publishes none)."""
from __future__ import annotations

import dataclasses

from .base import Recipe, Upstream, cams_input, ir_labels_input
from .cda import IRN_CAM_DATA, IRN_CAM_OPTIM, IRN_EDGE_DATA, IRN_EDGE_OPTIM, POLY

REPO = "jbeomlee93/RIB@9c43b3b"
COCO = {"coco_layout": "rib"}


def _classifier(dataset: str, split: str, load_as: str, extra: dict, note: str) -> Recipe:
    return Recipe(
        name=f"rib_cam_{dataset}", method="RIB", kind="classify", dataset=dataset, load_as=load_as, stage="final",
        summary=f"IRN ResNet-50 CAM classifier ({'20' if dataset == 'voc' else '80'} classes) that RIB fine-tunes "
                "per image", init=("resnet50_imagenet",), batch_size=16, epochs=5, optim=IRN_CAM_OPTIM,
        data=dict(IRN_CAM_DATA, **extra), split=split, quirks=POLY,
        upstream=Upstream(f"python run_sample{'_coco' if dataset == 'coco' else ''}.py --train_cam_pass True "
                          "(IRN step/train_cam.py)", "not reported",
                          source=f"{REPO} step/train_cam{'_coco' if dataset == 'coco' else ''}.py"),
        notes=note)


def _rib_cams(dataset: str, split: str, load_as: str, extra: dict) -> Recipe:
    return Recipe(
        name=f"rib_cams_{dataset}", method="RIB", kind="rib_cams", dataset=dataset, load_as=load_as, stage="prep",
        summary="RIB's per-image fine-tuned CAMs over the training set (obtain_RIB_CAM.py), IRN CAM dicts",
        data=dict({"output": "cam_rib"}, **extra), split=split,
        upstream=Upstream(f"python obtain_RIB_CAM{'_coco' if dataset == 'coco' else ''}.py", "1 process per GPU "
                          f"({'3 per GPU on COCO' if dataset == 'coco' else 'VOC'})",
                          source=f"{REPO} obtain_RIB_CAM{'_coco' if dataset == 'coco' else ''}.py"),
        notes=f"needs --weights OUT/{load_as}.pth; 10 fine-tuning steps per image: by far the most expensive stage")


def _ir_labels(dataset: str, split: str, load_as: str, extra: dict) -> Recipe:
    return Recipe(
        name=f"rib_ir_labels_{dataset}", method="RIB", kind="ir_labels", dataset=dataset, load_as=load_as, stage="prep",
        summary="IR labels of RIB's CAMs (cam_to_ir_label with RIB's 0.35 / 0.17)",
        data=dict({"conf_fg": 0.35, "conf_bg": 0.17, "output": "ir_label_rib"}, **extra), split=split,
        inputs=(dataclasses.replace(cams_input("cam_rib", load_as, load_as, split, dataset),
                                    producer=f"python training/run.py rib_cams_{dataset}"),),
        upstream=Upstream("python run_sample.py --cam_to_ir_label_pass True", "1",
                          source=f"{REPO} step/cam_to_ir_label{'_coco' if dataset == 'coco' else ''}.py"))


def _irn(dataset: str, split: str, extra: dict) -> Recipe:
    return Recipe(
        name=f"rib_irn_{dataset}", method="RIB", kind="irn", dataset=dataset, load_as="cda_irn_edge_resnet50_voc",
        stage="intermediate", summary="IRNet on RIB's IR labels: the 'irn' role of the rib pipelines (not published)",
        init=("resnet50_imagenet",), batch_size=32, epochs=3, optim=IRN_EDGE_OPTIM, split=split,
        data=dict(IRN_EDGE_DATA, mean_shift_split=split, **extra), quirks=POLY,
        inputs=(ir_labels_input("ir_label_rib", f"rib_ir_labels_{dataset}", "0.35 / 0.17"),),
        upstream=Upstream(f"python run_sample{'_coco' if dataset == 'coco' else ''}.py --train_irn_pass True",
                          "not reported", source=f"{REPO} step/train_irn{'_coco' if dataset == 'coco' else ''}.py"),
        expected="RIB#5 (maintainer): VOC pseudo labels '69.x' mIoU with this IRNet; RIB#6 (user): COCO 39.9",
        notes="use it as the pipeline's irn role: wsss_zoo.load_pipeline('rib_%s', weights={'irn': "
              "'OUT/rib_irn_%s.pth'})" % (dataset, dataset))


RECIPES = (
    _classifier("voc", "train_aug", "rib_resnet50_voc", {}, "RIB ships this classifier (IRN's recipe)"),
    _classifier("coco", "train", "rib_resnet50_coco", COCO,
                "upstream train_cam_coco.py crashes (Net.forward reshapes to 20 classes); this is the fixed IRN "
                "recipe"),
    _rib_cams("voc", "train_aug", "rib_resnet50_voc", {}),
    _rib_cams("coco", "train", "rib_resnet50_coco", COCO),
    _ir_labels("voc", "train_aug", "rib_resnet50_voc", {}),
    _ir_labels("coco", "train", "rib_resnet50_coco", COCO),
    _irn("voc", "train_aug", {}),
    _irn("coco", "train", COCO),
)
