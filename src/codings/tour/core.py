"""The tour's state: where it writes, which data it walks through, what it has said and drawn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Row = tuple[str, str, float, str]


@dataclass
class Tour:
    out: Path
    dataset: str = "digits"  # the image data set for the image steps: digits (quick) or mnist
    data_dir: str | None = None
    seed: int = 0
    log: Callable[[str], None] | None = print
    figures: list[str] = field(default_factory=list)
    full: bool = False  # the full budgets on digits (``codings tour --full``), not the demo's
    # The layer-wise step's autoencoder, which the pretraining step puts a classifier on (that
    # step trains its own when this is None: run alone, or on MNIST's recipe).
    pretrained: Any = None
    run: Any = None  # the folder as a codings.runs.Run (locked while the tour writes it)

    heading: str = ""  # the step's number, put before the first line it says
    said: list[str] = field(default_factory=list)  # every line, for the page (index.html)

    def say(self, text: str) -> None:
        self.said.append(self.heading + text)
        if self.log is not None:
            self.log(self.heading + text)
        self.heading = ""

    @property
    def quick(self) -> bool:
        return self.dataset == "digits"

    @property
    def demo(self) -> bool:
        """The quick tour of ``make demo``: digits with cut budgets (fewer epochs, smaller
        models), the same steps and measures; ``full=True`` restores the budgets."""
        return self.quick and not self.full

    def data(self, split: str):
        from ..datasets import load_dataset

        return load_dataset(self.dataset, split, data_dir=self.data_dir)

    def figure_path(self, name: str) -> Path:
        """Where the figure ``name`` goes: in the tour's run folder."""
        return self.run.figure_path(name) if self.run is not None else self.out / name

    def figure(self, path) -> str:
        self.figures.append(str(path))
        return str(path)
