"""CDA (suyukun666/CDA; cda.md 6-7): the IRN baseline (for the object bank), the bank, then CAM networks
trained on [originals; pasted copies] and the second stages (IRNet, AffinityNets) on their CAMs."""
from __future__ import annotations

from ..optim import OptimSpec
from .base import Recipe, StageInput, Upstream, cams_input as _cams, crf_input as _crf, ir_labels_input as _ir_labels

REPO = "suyukun666/CDA@c254b10"
IRN_CAM_DATA = {"pipeline": "irn", "resize_long": (320, 640), "crop": 512}
IRN_CAM_OPTIM = OptimSpec("poly_sgd", lr=0.1, weight_decay=1e-4)
IRN_EDGE_DATA = {"rescale": (0.5, 1.5), "crop": 512, "mean_shift_split": "train"}
IRN_EDGE_OPTIM = OptimSpec("poly_sgd", lr=0.1, weight_decay=1e-4)
POLY = ("polyoptimizer_momentum",)
BANK = StageInput("bank", "object bank <class 0..19>/<id>.npy {'img', 'seg'} (step/make_aug_fg.py)",
                  default="out:sem_seg_fg", producer="python training/run.py cda_object_bank_voc")
SEAM_DATA = {"resize_long": (448, 768), "crop": 448}
PSA_CLS_DATA = {"pipeline": "psa", "resize_long": (256, 512), "crop": 448}
R38_OPTIM_SEAM = OptimSpec("poly_sgd", lr=0.01, weight_decay=5e-4)


RECIPES = (
    # ---------------------------------------------------------------- IRN baseline, for the object bank
    Recipe(
        name="cda_irn_baseline_cam_voc", method="CDA", kind="classify", dataset="voc", load_as="cda_irn_resnet50_voc",
        stage="intermediate", summary="IRN baseline CAM network (step/train_cam.py), the first step of CDA's run",
        init=("resnet50_imagenet",), batch_size=16, epochs=5, optim=IRN_CAM_OPTIM, data=IRN_CAM_DATA, quirks=POLY,
        upstream=Upstream("python run_sample.py --voc12_root R --train_cam_pass True", "1 (CUDA_VISIBLE_DEVICES=6)",
                          source=f"{REPO} run_sample.py, step/train_cam.py")),
    Recipe(
        name="cda_irn_baseline_ir_labels_voc", method="CDA", kind="ir_labels", dataset="voc",
        load_as="cda_irn_resnet50_voc", stage="prep", summary="IR labels of the baseline CAMs (cam_to_ir_label 0.30/0.05)",
        data={"conf_fg": 0.30, "conf_bg": 0.05, "output": "ir_label_baseline"},
        inputs=(_cams("cam_baseline", "cda_irn_resnet50_voc", "cda_irn_baseline_cam_voc"),),
        upstream=Upstream("python run_sample.py --make_cam_pass True --cam_to_ir_label_pass True", "1",
                          source=f"{REPO} step/cam_to_ir_label.py")),
    Recipe(
        name="cda_irn_baseline_edge_voc", method="CDA", kind="irn", dataset="voc", load_as="cda_irn_edge_resnet50_voc",
        stage="intermediate", summary="IRN baseline IRNet on the baseline IR labels",
        init=("resnet50_imagenet",), batch_size=32, epochs=3, optim=IRN_EDGE_OPTIM, data=IRN_EDGE_DATA, quirks=POLY,
        inputs=(_ir_labels("ir_label_baseline", "cda_irn_baseline_ir_labels_voc"),),
        upstream=Upstream("python run_sample.py --train_irn_pass True", "1", source=f"{REPO} step/train_irn.py")),
    Recipe(
        name="cda_object_bank_voc", method="CDA", kind="cda_bank", dataset="voc", load_as="cda_irn_resnet50_voc",
        stage="prep", summary="object bank from the baseline pseudo masks of train_aug (step/make_aug_fg.py)",
        data={"output": "sem_seg_fg", "min_fraction": 0.1, "max_fraction": 0.7},
        inputs=(StageInput("pseudo_masks", "baseline IRN pseudo masks <id>.png on train_aug",
                           default="out:sem_seg_baseline", producer="wsss-zoo pseudo-mask --pipeline cda_irn_voc --weights "
                                    "cam=OUT/cda_irn_baseline_cam_voc.pth --weights irn=OUT/cda_irn_baseline_edge_voc.pth "
                                    "--voc-root R --split train_aug --out OUT/sem_seg_baseline"),),
        upstream=Upstream("python run_sample.py --make_sem_seg_pass True (train_list) ; python -m step.make_aug_fg", "1",
                          source=f"{REPO} step/make_sem_seg_labels.py, step/make_aug_fg.py"),
        expected="the authors' bank (voc12/seg_fg_dirs.npy) holds 4,374 instances"),
    # ---------------------------------------------------------------- CDA IRN
    Recipe(
        name="cda_irn_cam_voc", method="CDA", kind="classify", dataset="voc", load_as="cda_irn_resnet50_voc",
        stage="final", summary="IRN CAM network on [originals; pasted copies] (aug_step/train_cam.py)",
        init=("resnet50_imagenet",), batch_size=8, epochs=5, short_decay=(5, 16), optim=IRN_CAM_OPTIM,
        data=dict(IRN_CAM_DATA, paste=True), inputs=(BANK,), quirks=POLY + ("short_poly_decay",),
        upstream=Upstream("python run_sample.py (aug_step.train_cam: cam_batch_size 16 -> loader batch 8)", "1",
                          source=f"{REPO} aug_step/train_cam.py, voc12/dataloader.py"),
        expected="CAM 50.8 train mIoU (eval_cam, bg 0.15) for the published weights",
        notes="the loader gives 8 images + their 8 pasted copies per step (6,610 steps) while max_step counts "
              "batches of 16 (3,305): the lr decays to ~0 by mid-run and stays there (quirk short_poly_decay)"),
    Recipe(
        name="cda_irn_ir_labels_voc", method="CDA", kind="ir_labels", dataset="voc", load_as="cda_irn_resnet50_voc",
        stage="prep", summary="IR labels of the CDA CAMs (cam_to_ir_label 0.30/0.05)",
        data={"conf_fg": 0.30, "conf_bg": 0.05, "output": "ir_label"},
        inputs=(_cams("cam_irn", "cda_irn_resnet50_voc", "cda_irn_resnet50_voc"),),
        upstream=Upstream("python run_sample.py (aug_step.make_cam, aug_step.cam_to_ir_label)", "1",
                          source=f"{REPO} aug_step/cam_to_ir_label.py")),
    Recipe(
        name="cda_irn_edge_voc", method="CDA", kind="irn", dataset="voc", load_as="cda_irn_edge_resnet50_voc",
        stage="final", summary="IRNet (class boundaries + displacements) on the CDA IR labels",
        init=("resnet50_imagenet",), batch_size=32, epochs=3, optim=IRN_EDGE_OPTIM, data=IRN_EDGE_DATA, quirks=POLY,
        inputs=(_ir_labels("ir_label", "cda_irn_ir_labels_voc"),),
        upstream=Upstream("python run_sample.py (aug_step.train_irn)", "1", source=f"{REPO} aug_step/train_irn.py"),
        expected="pseudo masks 67.7 train mIoU (eval_sem_seg, bg 0.25) for the published pair"),
    # ---------------------------------------------------------------- CDA on SEAM / PSA (code not released)
    Recipe(
        name="cda_seam_voc", method="CDA", kind="seam", dataset="voc", load_as="cda_seam_resnet38_voc", stage="final",
        summary="SEAM (ResNet-38, PCM, ER/ECR) on [originals; pasted copies]",
        init=("resnet38_imagenet",), batch_size=4, epochs=8, short_decay=(8, 8), optim=R38_OPTIM_SEAM,
        data=dict(SEAM_DATA, paste=True), inputs=(BANK,), quirks=POLY + ("short_poly_decay",),
        upstream=Upstream("python train_SEAM.py --voc12_root R --weights ilsvrc-cls_rna-a1_cls1000_ep-0001.params "
                          "(+ CDA's paste, code not released)", "not reported (SEAM: 4 GPUs)",
                          source="YudeWang/SEAM@3212261 train_SEAM.py; CDA README"),
        expected="CAM 58.4 train mIoU for the published weights",
        notes="CDA did not release this code; the recipe applies CDA's IRN change to SEAM's recipe (loader batch "
              "halved, pasted copies appended, max_step counted with the full batch) and uses the IRN-baseline bank"),
    Recipe(
        name="cda_seam_crf_labels_voc", method="CDA", kind="crf_labels", dataset="voc", load_as="cda_seam_resnet38_voc",
        stage="prep", summary="la/ha CRF labels of the CDA-SEAM CAMs (infer_SEAM.py --out_crf, alphas 4 / 24)",
        data={"alphas": (4, 24), "output": "crf_seam"},
        inputs=(_cams("cam_seam", "cda_seam_resnet38_voc", "cda_seam_resnet38_voc"),),
        upstream=Upstream("python infer_SEAM.py --out_crf crf", "1", source="YudeWang/SEAM@3212261 infer_SEAM.py")),
    Recipe(
        name="cda_seam_aff_voc", method="CDA", kind="affinity", dataset="voc", load_as="cda_seam_aff_resnet38_voc",
        stage="final", summary="AffinityNet (SEAM variant) on the CDA-SEAM la/ha CRF labels",
        init=("resnet38_imagenet",), batch_size=8, epochs=8, optim=R38_OPTIM_SEAM, data={"crop": 448},
        quirks=POLY + ("aff_pad_black",),
        inputs=(_crf("crf_la", 4, "crf_seam_la", "cda_seam_crf_labels_voc"),
                _crf("crf_ha", 24, "crf_seam_ha", "cda_seam_crf_labels_voc")),
        upstream=Upstream("python train_aff.py --voc12_root R --weights ilsvrc-cls_rna-a1_cls1000_ep-0001.params "
                          "--la_crf_dir crf_4.0 --ha_crf_dir crf_24.0", "not reported",
                          source="YudeWang/SEAM@3212261 train_aff.py"),
        expected="pseudo masks 66.4 train mIoU for the published pair"),
    Recipe(
        name="cda_psa_cls_voc", method="CDA", kind="classify", dataset="voc", load_as="cda_psa_resnet38_voc",
        stage="final", summary="PSA ResNet-38 classifier on [originals; pasted copies]",
        init=("resnet38_imagenet",), batch_size=8, epochs=15, short_decay=(15, 16),
        optim=OptimSpec("poly_sgd", lr=0.1, weight_decay=5e-4), data=dict(PSA_CLS_DATA, paste=True), inputs=(BANK,),
        quirks=POLY + ("short_poly_decay",),
        upstream=Upstream("python train_cls.py --network network.resnet38_cls --weights "
                          "ilsvrc-cls_rna-a1_cls1000_ep-0001.params (+ CDA's paste, code not released)", "not reported",
                          source="jiwoon-ahn/psa@9493e59 train_cls.py; CDA README"),
        expected="CAM 48.9 train mIoU for the published weights",
        notes="as cda_seam_voc: CDA's IRN change applied to PSA's train_cls recipe"),
    Recipe(
        name="cda_psa_crf_labels_voc", method="CDA", kind="crf_labels", dataset="voc", load_as="cda_psa_resnet38_voc",
        stage="prep", summary="la/ha CRF labels of the CDA-PSA CAMs (infer_cls.py, alphas 4 / 32)",
        data={"alphas": (4, 32), "output": "crf_psa"},
        inputs=(_cams("cam_psa", "cda_psa_resnet38_voc", "cda_psa_resnet38_voc"),),
        upstream=Upstream("python infer_cls.py --out_la_crf crf_la --out_ha_crf crf_ha", "1",
                          source="jiwoon-ahn/psa@9493e59 infer_cls.py")),
    Recipe(
        name="cda_psa_aff_voc", method="CDA", kind="affinity", dataset="voc", load_as="cda_psa_aff_resnet38_voc",
        stage="final", summary="AffinityNet (PSA variant) on the CDA-PSA la/ha CRF labels",
        init=("resnet38_imagenet",), batch_size=8, epochs=8, optim=OptimSpec("poly_sgd", lr=0.1, weight_decay=5e-4),
        data={"crop": 448}, quirks=POLY + ("aff_pad_black",),
        inputs=(_crf("crf_la", 4, "crf_psa_la", "cda_psa_crf_labels_voc"),
                _crf("crf_ha", 32, "crf_psa_ha", "cda_psa_crf_labels_voc")),
        upstream=Upstream("python train_aff.py --network network.resnet38_aff --lr 0.1 --weights "
                          "ilsvrc-cls_rna-a1_cls1000_ep-0001.params --la_crf_dir crf_la --ha_crf_dir crf_ha",
                          "not reported", source="jiwoon-ahn/psa@9493e59 train_aff.py"),
        expected="pseudo masks 63.3 train mIoU for the published pair"),
)
