"""StyleGAN2's building blocks (resampling, equalised layers, mapping, synthesis, D); the
`stylegan2` architecture that assembles them lives in `ganforge.models.stylegan2`."""
