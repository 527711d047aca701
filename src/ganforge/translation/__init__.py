"""Image-to-image translation, the engine's second task: pix2pix (paired) and CycleGAN (unpaired).

The networks live in `ganforge.models` (unet, patchgan, resnet_translator); the adversarial
losses in `ganforge.objectives`; checkpoints, the run directory, metrics log and graceful stop in
`ganforge.training`. This package adds what is particular to translation: paired/unpaired data
and the digits demo tasks (`data`), the image pool (`pool`), the learning-rate schedule
(`schedule`), the loss composition (`losses`), the two models' training steps (`pix2pix`,
`cyclegan`), their trainer (`trainer`), metrics (`metrics`) and inference (`translate`).
"""
