"""codings: autoencoders on PyTorch, from PCA to generative models.

``import codings`` is light: each name below loads its module (and torch, scikit-learn or
matplotlib) on first use (PEP 562), so the command line starts without them.
"""

from __future__ import annotations

import importlib
import importlib.util

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "MODELS": "models",
    "Autoencoder": "models",
    "build": "models",
    "register": "models",
    "load": "checkpoint",
    "save": "checkpoint",
    "Classifier": "classify",
    "features": "classify",
    "train_classifier": "classify",
    "CodingsWarning": "diagnostics",
    "AutoencoderClassifier": "estimators",
    "AutoencoderOutlierDetector": "estimators",
    "AutoencoderTransformer": "estimators",
    "export": "exporting",
    "pretrain_layerwise": "layerwise",
    "TrainOptions": "options",
    "History": "train",
    "TrainingDiverged": "train",
    "evaluate": "train",
    "fit": "train",
}

__all__ = [
    "MODELS",
    "Autoencoder",
    "AutoencoderClassifier",
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "Classifier",
    "CodingsWarning",
    "History",
    "TrainOptions",
    "TrainingDiverged",
    "__version__",
    "build",
    "estimators",
    "evaluate",
    "export",
    "features",
    "fit",
    "load",
    "metrics",
    "pretrain_layerwise",
    "register",
    "save",
    "train_classifier",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        if name == "MODELS":
            module.load_builders()  # every builder registered before the registry is read
        value = getattr(module, name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f".{name}", __name__)  # a submodule: codings.metrics
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
