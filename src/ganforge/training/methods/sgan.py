"""Semi-supervised GAN (Salimans et al. 2016): D is a K-class classifier whose implicit
"real" logit is logsumexp of its K class logits (D(x) = Z(x) / (Z(x) + 1), the (K+1)-th class
fixed at logit 0). Labelled real images train the classes, all real images the real/fake
decision, and D's classification accuracy on held-out real images is the point of the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.config import register, setting
from ganforge.config.sections import AT_LEAST_1
from ganforge.data.batches import BatchStream
from ganforge.data.dataset import ImageDataset, balanced_subset
from ganforge.errors import GanforgeError
from ganforge.training.context import StepContext
from ganforge.training.methods.adversarial import Adversarial, AdversarialMethodConfig, DLoss
from ganforge.training.methods.registry import method


@register("sgan")
@dataclass
class SGANMethodConfig(AdversarialMethodConfig):
    required_heads = ("classes",)
    single_process = True

    name: str = "sgan"
    labelled: int = setting(100, bounds=AT_LEAST_1)  # labelled real images, class-balanced
    # if > 0, this fraction of the training images are labelled instead
    labelled_fraction: float = setting(0.0, bounds="[0, 1]", hint="0: use method.labelled")
    holdout: float = setting(0.1, bounds="(0, 1)")  # fraction held out to measure D's classification

    def check(self, config: Any) -> None:
        if self.labelled_fraction == 0 and self.labelled < config.model.n_classes:
            raise GanforgeError(f"method.labelled must be at least one image per class "
                                f"({config.model.n_classes}), got {self.labelled}")

HELDOUT_BATCH = 500


@method("sgan")
class SemiSupervised(Adversarial):
    uses_heads = True

    def __init__(self, ctx: StepContext) -> None:
        super().__init__(ctx)
        self.heldout: ImageDataset | None = None
        self.labelled_stream: BatchStream | None = None

    def prepare_dataset(self, dataset: ImageDataset) -> ImageDataset:
        """Hold out a fixed fraction for measuring D; pick the labelled images from the rest."""
        if not isinstance(dataset, ImageDataset):
            raise GanforgeError(f"method sgan holds its images in memory; {dataset.source} is read "
                                "from disk: use an in-memory --data (folder:, mnist:, ...) for sgan")
        seed = self.ctx.config.train.seed
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed + 17))
        n_held = max(int(len(dataset) * self.cfg.holdout), dataset.n_classes)
        held, kept = order[:n_held].sort().values, order[n_held:].sort().values
        self.heldout = ImageDataset(dataset.images[held], dataset.labels[held], dataset.class_names,
                                    f"{dataset.source} (held out)")
        train = ImageDataset(dataset.images[kept], dataset.labels[kept], dataset.class_names,
                             dataset.source)
        labelled = balanced_subset(train, self.n_labelled(len(train), dataset.n_classes), seed)
        self.labelled_stream = BatchStream(labelled, min(self.ctx.config.train.batch_size, len(labelled)),
                                           seed + 29)
        return train

    def n_labelled(self, n_train: int, n_classes: int) -> int:
        """`method.labelled` images, or `method.labelled_fraction` of the training images."""
        if self.cfg.labelled_fraction == 0:
            return self.cfg.labelled
        n = round(self.cfg.labelled_fraction * n_train)
        if n < n_classes:
            raise GanforgeError(f"method.labelled_fraction={self.cfg.labelled_fraction} labels {n} of "
                             f"{n_train} images; need at least one per class ({n_classes})")
        return n

    @staticmethod
    def real_logit(class_logits: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(class_logits.float(), dim=1)

    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss:
        z, y_fake = self.latent(real.shape[0])
        with torch.no_grad():
            fake = self.ctx.generate(z, y_fake).to(real.dtype)
        _, _, h_real, h_fake = self.d_scores(real, y_real, fake, y_fake)  # y_real is not used
        l_real, l_fake = self.real_logit(h_real["classes"]), self.real_logit(h_fake["classes"])
        unsupervised = F.softplus(-l_real).mean() + F.softplus(l_fake).mean()
        images, labels = self.labelled_stream.next()
        x = self.ctx.to_model_range(images)
        heads = self.ctx.discriminate(x, labels.to(self.ctx.device)).heads
        supervised = F.cross_entropy(heads["classes"].float(), labels.to(self.ctx.device))
        return DLoss(unsupervised + supervised, l_real, l_fake,
                     {"supervised_loss": supervised.detach(), "unsupervised_loss": unsupervised.detach()})

    def g_loss(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z, y = self.latent(n)
        heads = self.ctx.discriminate(self.ctx.generate(z, y), y).heads
        return F.softplus(-self.real_logit(heads["classes"])).mean(), {}

    @torch.no_grad()
    def heldout_accuracy(self) -> float:
        D = self.ctx.D
        was_training = D.training
        D.eval()
        try:
            correct = 0
            for start in range(0, len(self.heldout), HELDOUT_BATCH):
                images = self.heldout.images[start:start + HELDOUT_BATCH]
                labels = self.heldout.labels[start:start + HELDOUT_BATCH].to(self.ctx.device)
                _, heads = D(self.ctx.to_model_range(images), labels, heads=True)
                correct += int((heads["classes"].argmax(1) == labels).sum())
        finally:
            D.train(was_training)
        return correct / len(self.heldout)

    def monitor(self) -> dict[str, float]:
        return {"heldout_accuracy": self.heldout_accuracy()}

    def state_dict(self) -> dict[str, Any]:
        return {"labelled_stream": self.labelled_stream.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.labelled_stream.load_state_dict(state["labelled_stream"])
