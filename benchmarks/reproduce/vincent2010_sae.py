"""Vincent et al. (2010): the same stack without noise (a plain stacked autoencoder); MNIST error.

Paper: Vincent et al., "Stacked denoising autoencoders", JMLR 11 (2010), Table 3: SAE-3 (three
layers of ordinary autoencoders, pretrained greedily, then fine-tuned) reaches 1.40% test error
on MNIST; the denoising stack 1.28%. This row is the control for ``vincent2010_sdae.py``: the
same protocol (``_stacks.py``) and seeds with the corruption removed
(``codings.build("denoising", noise=None)``).

Budget and wall-clock: as ``vincent2010_sdae.py`` (15 pretraining epochs per layer, 60 + 60
fine-tuning epochs; 22-28 min per seed on this 2-core CPU with 1 thread and the other core
busy, about 75 min for three seeds).

    python benchmarks/reproduce/vincent2010_sae.py             # full budget, seeds 0,1,2
    python benchmarks/reproduce/vincent2010_sae.py --quick     # smoke run: 2,000 images, 1 epoch
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import _stacks  # noqa: E402


def main(argv=None) -> int:
    return _stacks.run(
        argv,
        doc=__doc__,
        script=__file__,
        name="vincent2010_sae",
        title="Stacked autoencoder 784-1000-1000-1000 (no noise), fine-tuned, MNIST",
        paper="Vincent et al. 2010, JMLR 11:3371, Table 3 (SAE-3)",
        paper_value=1.40,
        estimate="about 25 min per seed, 75 min for seeds 0,1,2 (1 thread, other core busy)",
        builder="denoising",
        layer_kwargs={"noise": None, "noise_level": None},
    )


if __name__ == "__main__":
    raise SystemExit(main())
