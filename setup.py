"""ament_python package that is also a plain pip package (``pip install -e .``)."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "mtvif_ros"


def _requirements(name: str) -> list[str]:
    lines = (Path(__file__).parent / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["weights/*.pt"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
    ],
    python_requires=">=3.10",
    install_requires=["setuptools"],
    # runtime and tool dependencies are installed from requirements*.txt (torch is pinned
    # there); `pip install .[tools]` names the tools' ones for installs without them
    extras_require={"tools": _requirements("requirements-tools.txt")},
    zip_safe=False,
    maintainer="mtvif_ros maintainers",
    maintainer_email="maintainers@mtvif-ros.dev",
    description="Visible+infrared fusion and segmentation (MultiTaskVIF) for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "fusion_node = mtvif_ros.node.main:main",
            "mtvif-demo = mtvif_ros.tools.demo:main",
            "mtvif-init-weights = mtvif_ros.tools.init_weights:main",
            "mtvif-train = mtvif_ros.train.cli:main",
            "mtvif-eval = mtvif_ros.tools.eval:main",
            "mtvif-bag = mtvif_ros.tools.bag:main",
            "mtvif-export = mtvif_ros.tools.export:main",
            "mtvif-bench = mtvif_ros.tools.bench:main",
        ],
    },
)
