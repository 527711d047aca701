"""Editing real images with a trained generator (seed 004's "pretrained GAN image translation"):
projection of an image into the generator's latent space, latent directions (GANSpace PCA,
SeFa, InterFaceGAN SVM) and edits along them.

It sits above `metrics` (the shipped domain classifiers give the default perceptual distance
and score samples for InterFaceGAN) and below `generators`/`api`, which load generators.
"""
