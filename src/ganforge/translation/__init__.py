"""Image-to-image translation, the engine's second task: pix2pix (paired), CycleGAN (unpaired),
StarGAN (one domain of attribute-labelled images, one G for all domains) and BicycleGAN (paired,
multimodal).

The networks live in `ganforge.models` (unet, unet_z, patchgan, resnet_translator, stargan,
code_encoder); the adversarial losses in `ganforge.objectives`; checkpoints, the run directory,
metrics log and graceful stop in `ganforge.training`. This package adds what is particular to
translation: the data (`data`, `attribute_data`, the digits demo tasks in `demos`), the image
pool (`pool`), the learning-rate schedule (`schedule`), the loss compositions (`losses`,
`stargan_losses`, `bicyclegan_losses`), each mode's training step (`method` is their common
shape; `pix2pix`, `cyclegan`, `stargan`, `bicyclegan`, registered in `models`), the conditions
conditional translators take (`conditions`), metrics (`metrics`) and inference (`inference`,
`translate`).
"""
