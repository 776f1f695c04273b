"""``train`` evaluator: short real training of each candidate on a proxy set (torch).

Greedy Network Enlarging (Liu et al., arXiv 2108.00177) ranks candidates by accuracy after a
short training on a proxy data set (reference note B.3, step 4 [INFERRED]; the same group's
TinyNet used short ImageNet-100 schedules). Here the proxy is the first ``train_subset``
training images of ``data``, validated on ``val_subset`` *other training* images (the test
split is never seen by the search), trained with :func:`deepmad.train.fit` for ``epochs``
epochs at the candidate's own resolution (or a fixed ``resolution``). The score is the
validation top-1 (%) after the last epoch. Every candidate's result is cached on disk under
``cache_dir`` by a hash of its spec and the settings, so a rerun does not retrain; an
interrupted training resumes from its ``last.pt``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from deepmad.enlarge.evaluators import Evaluator
from deepmad.errors import DeepmadError
from deepmad.spec.network import NetworkSpec
from deepmad.spec.serialize import save_spec_json
from deepmad.utils.io import atomic_write_json

__all__ = ["TrainEvaluator"]


class TrainEvaluator(Evaluator):
    """Proxy-training evaluator with a per-candidate disk cache."""

    name = "train"

    def __init__(self, data: str = "fashion-mnist", data_dir: str | None = None, epochs: int = 2,
                 train_subset: int = 5000, val_subset: int = 2000, resolution: int | None = None,
                 batch_size: int = 128, lr: float | None = None, seed: int = 0, device: str = "auto",
                 cache_dir: str = ".deepmad_cache/enlarge") -> None:
        """Args:
            data: the trainer's ``--data`` value (e.g. ``fashion-mnist``, ``cifar10:DIR``).
            data_dir: where a named data set lives.
            epochs: training epochs per candidate.
            train_subset: proxy training images (the first N of the training split).
            val_subset: proxy validation images (the last N of the training split).
            resolution: train every candidate at this side; None = the candidate's own.
            batch_size: training batch.
            lr: peak learning rate (None: the trainer's default).
            seed: training seed (same for every candidate).
            device: cpu | cuda | auto.
            cache_dir: where results and runs are kept.
        """
        for name, value in (("epochs", epochs), ("train_subset", train_subset),
                            ("val_subset", val_subset), ("batch_size", batch_size)):
            if value < 1:
                raise DeepmadError(f"{name}={value} is invalid; expected an integer >= 1")
        self.data, self.data_dir, self.epochs = data, data_dir, epochs
        self.train_subset, self.val_subset, self.resolution = train_subset, val_subset, resolution
        self.batch_size, self.lr, self.seed, self.device = batch_size, lr, seed, device
        self.cache_dir = Path(cache_dir)
        self._dataset: Any = None
        self.trained = 0  # candidates trained (not read from the cache) by this instance

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "data": self.data, "epochs": self.epochs,
                "train_subset": self.train_subset, "val_subset": self.val_subset,
                "resolution": self.resolution, "batch_size": self.batch_size, "lr": self.lr,
                "seed": self.seed, "cache_dir": str(self.cache_dir), "score": "proxy val top-1 (%)"}

    def _proxy(self) -> Any:
        """The proxy data set: train = first ``train_subset``, val = last ``val_subset`` train images."""
        if self._dataset is None:
            from deepmad.train.data import ImageSet, load_dataset

            full = load_dataset(self.data, self.data_dir)
            n = len(full.train)
            if self.train_subset + self.val_subset > n:
                raise DeepmadError(f"train_subset + val_subset = {self.train_subset + self.val_subset} "
                                   f"exceeds the {n} training images of {self.data}")
            x, y = full.train.images, full.train.labels
            self._dataset = replace(full, train=ImageSet(x[:self.train_subset], y[:self.train_subset]),
                                    val=ImageSet(x[n - self.val_subset:], y[n - self.val_subset:]))
        return self._dataset

    def key(self, spec: NetworkSpec) -> str:
        """Cache key: hash of the spec (name dropped) and the settings that change training."""
        settings = {k: v for k, v in self.settings().items() if k != "cache_dir"}
        payload = json.dumps({"spec": spec.replace(name="").to_dict(), "settings": settings}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def _train(self, spec: NetworkSpec, key: str) -> float:
        from deepmad.train import TrainConfig, fit

        data = self._proxy()
        run = self.cache_dir / key
        run.mkdir(parents=True, exist_ok=True)
        spec_path = save_spec_json(spec.replace(head=replace(spec.head, num_classes=data.num_classes)),
                                   run / "spec.json")
        config = TrainConfig(model=str(spec_path), data=self.data, out=str(run / "run"),
                             num_classes=data.num_classes, resolution=self.resolution,
                             epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                             warmup_epochs=min(1.0, self.epochs / 4), seed=self.seed,
                             device=self.device, progress=False, checkpoint_every=0,
                             resume=(run / "run" / "last.pt").is_file())
        result = fit(config, dataset=data)
        if result.interrupted is not None:
            raise KeyboardInterrupt
        self.trained += 1
        return float(result.last["val_top1"])

    def evaluate(self, specs: Sequence[NetworkSpec]) -> list[float]:
        scores = []
        for spec in specs:
            key = self.key(spec)
            cached = self.cache_dir / f"{key}.json"
            if cached.is_file():
                scores.append(float(json.loads(cached.read_text())["score"]))
                continue
            score = self._train(spec, key)
            atomic_write_json(cached, {"score": score, "spec": spec.to_dict(), "settings": self.settings()})
            scores.append(score)
        return scores
