"""codings: autoencoders on PyTorch, from PCA to generative models."""

__version__ = "0.1.0"

# isort: off
from .models import MODELS, Autoencoder, build, register  # noqa: E402
from . import regularised  # noqa: E402,F401  (registers denoising, sparse, ... conv)
from . import generative  # noqa: E402,F401  (registers vae and aae)
from . import metrics  # noqa: E402,F401
from . import estimators  # noqa: E402  (scikit-learn estimators)

# isort: on
from .checkpoint import load, save  # noqa: E402
from .classify import Classifier, features, train_classifier  # noqa: E402
from .diagnostics import CodingsWarning  # noqa: E402
from .estimators import (  # noqa: E402
    AutoencoderClassifier,
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
)
from .layerwise import pretrain_layerwise  # noqa: E402
from .train import History, TrainingDiverged, evaluate, fit  # noqa: E402

__all__ = [
    "MODELS",
    "Autoencoder",
    "AutoencoderClassifier",
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "Classifier",
    "CodingsWarning",
    "History",
    "TrainingDiverged",
    "__version__",
    "build",
    "estimators",
    "evaluate",
    "features",
    "fit",
    "load",
    "metrics",
    "pretrain_layerwise",
    "register",
    "save",
    "train_classifier",
]
