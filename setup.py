"""Installation of wsss_zoo: ``pip install -e ".[test,crf]"``."""
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithRegistry(build_py):
    """Ship the root checkpoints.json inside the built package (editable installs read the root file)."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "wsss_zoo" / "checkpoints.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "checkpoints.json", target)


setup(
    name="wsss_zoo",
    version="0.1.0",
    description="Published weakly-supervised semantic segmentation methods (DRS, CDA, EPS, SBNet, RIB) "
                "under one API, torch.hub repo and command line",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["wsss_zoo", "wsss_zoo.*"]),
    cmdclass={"build_py": BuildWithRegistry},
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "timm>=0.9",
        "huggingface_hub>=0.20",
        "safetensors>=0.4",
        "numpy>=1.23",
        "pillow>=9.0",
        "requests>=2.28",
        "gdown>=5.1",  # reads Google Drive's confirmation pages (wsss_zoo/download/drive.py)
        "tqdm>=4.60",
        "matplotlib>=3.6",
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-timeout>=2.1", "pyyaml>=6", "scipy>=1.9"],  # the tests cover training/ too
        "crf": ["pydensecrf2>=1.1; python_version<'3.13'"],
        "train": ["pyyaml>=6", "scipy>=1.9", "opencv-python-headless>=4.5"],  # SBNet's SB stage runs Canny in its forward
    },
    entry_points={"console_scripts": ["wsss-zoo=wsss_zoo.cli:main"]},
)
