"""Loading and sharing generators: `load` (every source -> one `PretrainedGenerator`), `export`
(a run's generator as a shareable folder or file), `convert` (published BigGAN-deep checkpoints)
and `hub` (the Hugging Face Hub). The type itself is `ganforge.generator.Generator`."""

from ganforge.generators.load import PretrainedGenerator, load

__all__ = ["PretrainedGenerator", "load"]
