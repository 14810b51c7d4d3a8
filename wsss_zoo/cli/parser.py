"""The argparse tree of ``wsss-zoo``: the commands, their shared ``--debug``/``--quiet``, and the examples
each ``--help`` ends with (tests/cli/test_docs.py parses every one of them)."""
from __future__ import annotations

import argparse
from functools import partial

from .. import __version__
from . import compare_command, dataset_runs, eval_command, image_commands, options, registry_commands
from .messages import PROG

EXIT_CODES_HELP = """exit codes: 0 done, 2 bad usage or input (one-line message), 3 partly done (the failed
items are named on stderr), 1 internal error (a bug; traceback printed), 130 interrupted."""

EXAMPLES = {
    "main": """examples:
  wsss-zoo list --sort miou
  wsss-zoo info eps_voc
  wsss-zoo download eps_voc
  wsss-zoo pseudo-mask eps_voc examples/cyclist.jpg --labels bicycle,person --out out/
  wsss-zoo compare examples/cyclist.jpg --labels bicycle,person --methods eps_voc,cda_irn_voc --out compare.png

Run "wsss-zoo COMMAND --help" for a command's options.""",
    "list": """examples:
  wsss-zoo list
  wsss-zoo list 'eps*' --sort miou
  wsss-zoo list --method EPS --dataset voc
  wsss-zoo list --pipelines --json""",
    "info": """examples:
  wsss-zoo info eps_resnet38_voc
  wsss-zoo info cda_irn_voc --json""",
    "download": """examples:
  wsss-zoo download eps_voc                # a pipeline: every network it needs
  wsss-zoo download drs_vgg16_voc drs_deeplabv2_resnet101_voc
  wsss-zoo download --all --method CDA
  wsss-zoo download --verify eps_voc       # re-hash the cached files, compare with the records

Files land in $WSSS_ZOO_HOME (default ~/.cache/torch/hub/wsss_zoo); WSSS_ZOO_OFFLINE=1 forbids downloads.""",
    "cam": """examples:
  wsss-zoo cam eps_resnet38_voc examples/cyclist.jpg --labels bicycle,person
  wsss-zoo cam cda_irn_voc photos/ --labels-file labels.txt --out cams/
  wsss-zoo cam rib_resnet50_voc img.jpg --labels 15 --scales 1.0 --no-flip --weights rib.pth
  wsss-zoo cam eps_voc --voc-root data/VOCdevkit/VOC2012 --split train --out cams/

writes OUT/NAME.npy (the upstream CAM dict, loadable by the upstream evaluation scripts) and
OUT/NAME_cam.png (one heat map per class with a colour bar).""",
    "pseudo-mask": """examples:
  wsss-zoo pseudo-mask eps_voc examples/cyclist.jpg --labels bicycle,person
  wsss-zoo pseudo-mask cda_irn_voc photos/ --labels-file cls_labels.npy --out masks/ --device cuda --precision auto
  wsss-zoo pseudo-mask drs_voc img.jpg --labels person --saliency img_sal.png
  wsss-zoo pseudo-mask rib_voc img.jpg --labels dog --weights irn=my_irn.pth --set sem_seg_bg_thres=0.3
  wsss-zoo pseudo-mask eps_voc --voc-root data/VOCdevkit/VOC2012 --split train --out masks/ --keep-going
  torchrun --nproc-per-node 4 -m wsss_zoo pseudo-mask eps_voc --voc-root VOC2012 --split train_aug --out masks/

writes OUT/NAME.png (palette PNG whose values are the class ids, 255 = ignore) and
OUT/NAME_overlay.png (the mask over the image, with a legend); a dataset split writes OUT/ID.png
and OUT/manifest.json.""",
    "segment": """examples:
  wsss-zoo segment drs_deeplabv2_resnet101_voc examples/cyclist.jpg
  wsss-zoo segment sbnet_deeplabv2_resnet101_voc photos/ --out seg/ --crf
  wsss-zoo segment drs_deeplabv3plus_resnet101_voc --voc-root data/VOCdevkit/VOC2012 --split val --crop-val 513 --out seg/

writes OUT/NAME.png (class ids) and OUT/NAME_overlay.png.""",
    "compare": """examples:
  wsss-zoo compare examples/cyclist.jpg --labels bicycle,person --out docs/compare.png
  wsss-zoo compare img.jpg --labels dog --methods eps_voc,cda_irn_voc,sbnet_voc --cell-width 400
  wsss-zoo compare img.jpg --labels cat --methods eps_voc,cda_psa_voc --weights eps_resnet38_voc=eps.pth

--methods takes pipelines (CAM row + pseudo-mask row), CAM networks (CAM row) and segmentation
networks (mask row); the default is every VOC pipeline that needs no user-trained weights. A
method that cannot run (no weights, no saliency) is left out and named (exit code 3).""",
    "convert": """examples:
  wsss-zoo convert ~/Downloads/eps_resnet38_voc.pth --name eps_resnet38_voc --out eps_voc.safetensors
  wsss-zoo convert res50_cam.pth --name cda_irn_resnet50_voc --out cam.safetensors

the result loads with wsss_zoo.load(NAME, weights=OUT) and holds no pickle.""",
    "publish": """examples:
  wsss-zoo download drs_vgg16_voc          # records the sha256 of the authors' file
  wsss-zoo publish drs_vgg16_voc --out hf/drs_vgg16_voc
  wsss-zoo publish drs_vgg16_voc --weights my_training.pth --retrained --out hf/my_drs
  hf upload <user>/drs_vgg16_voc hf/drs_vgg16_voc .

refuses networks whose license does not allow re-hosting (EPS and RIB publish no license), and files
that are not the authors' (sha256 other than the one recorded at download) unless --retrained.""",
    "eval": """examples:
  wsss-zoo eval --pred masks/ --voc-root data/VOCdevkit/VOC2012 --split train
  wsss-zoo eval --pred cams/ --voc-root data/VOCdevkit/VOC2012 --split train --threshold 0.05:0.50:0.01
  wsss-zoo eval --pred masks/ --voc-root data/VOCdevkit/VOC2012 --split train --report report.html
  wsss-zoo eval --pred fp32/ --pred bf16/ --voc-root data/VOCdevkit/VOC2012 --split train --report diff.html

conventions (--convention) and dataset layouts: docs/datasets.md; the HTML report: docs/report.md""",
}


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _common_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("general")
    g.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the full traceback of errors")
    g.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no progress bars, notes or summary lines")
    return p


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; each command's handler is ``args.func(args) -> exit code``."""
    common = _common_parent()
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=_formatter, parents=[common],
        description="Weakly-supervised semantic segmentation methods (DRS, CDA, EPS, SBNet, RIB) with their "
                    "published weights: CAMs, pseudo masks, segmentation, evaluation, side-by-side comparison.",
        epilog=EXAMPLES["main"] + "\n\n" + EXIT_CODES_HELP)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, help_text, func, add_arguments):
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common], formatter_class=_formatter,
                           epilog=EXAMPLES[name])
        p.set_defaults(func=func)
        add_arguments(p)
        return p

    add("list", "list the published networks and pipelines, with their reported mIoU", registry_commands.cmd_list,
        registry_commands.add_list_arguments)
    add("info", "show what a network or pipeline is: numbers, license, citation, files", registry_commands.cmd_info,
        registry_commands.add_info_arguments)
    add("download", "download and verify published weights into the cache", registry_commands.cmd_download,
        registry_commands.add_download_arguments)
    for name, help_text in image_commands.COMMANDS.items():
        add(name, help_text, partial(image_commands.run, command=name), partial(_add_network_command, command=name))
    add("compare", compare_command.HELP, compare_command.run, compare_command.add_arguments)
    add("convert", "convert an upstream checkpoint file to safetensors", registry_commands.cmd_convert,
        registry_commands.add_convert_arguments)
    add("publish", "write a Hugging Face-ready folder (safetensors + config + model card)",
        registry_commands.cmd_publish, registry_commands.add_publish_arguments)
    add("eval", eval_command.HELP, eval_command.run, eval_command.add_arguments)
    return parser


def _add_network_command(p, command: str) -> None:
    """cam / pseudo-mask / segment: one grammar for an image, a folder and a dataset split."""
    image_commands.add_arguments(p, command)
    options.add_network_options(p, command)
    dataset_runs.add_arguments(p, command)
